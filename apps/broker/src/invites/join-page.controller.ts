import { Controller, Get, Header } from '@nestjs/common';
import { pageCsp } from '../http/security-headers.js';
import { joinPage } from './join-page.js';

/**
 * The https form of an invite (`<broker>/join#<blob>`) lands here. The blob, which holds the mesh
 * key, stays in the fragment: browsers never send it, and this page only shows the join command.
 */
const PAGE = joinPage({
  intro: `Run this in a terminal, with the claudemesh CLI on your PATH (in a claudemesh checkout: <code>npm install &amp;&amp; npx claudemesh install</code> puts it there):`,
  paragraphs: [
    `The part of the link after <code>#</code> carries the mesh key. It never leaves your machine: the broker does not receive it.`,
  ],
  script: `if (location.hash.length > 1) {
    document.getElementById('cmd').textContent = "claudemesh join '" + location.href.replace(/'/g, '') + "' --name <your-name>";
  }`,
});

/**
 * A short invite link (`<broker>/i/<code>`, §9b) opened in a browser: the code is in the path, so the
 * browser has sent it here. The page never echoes it (the script reads it from the address bar), is
 * never cached or indexed, leaks no referrer, and the broker logs no request paths.
 */
const SHORT_PAGE = joinPage({
  intro: `Run this in a terminal, with the claudemesh CLI installed:`,
  paragraphs: [
    `The CLI never sends the code itself: it derives a lookup and a key from it, and the broker only ever stores the mesh key wrapped under that key.`,
    `<strong>Opening this link in a browser sent the code to this broker.</strong> If you do not trust the operator of this broker, ask whoever invited you for a new code and paste it into the terminal instead of a browser.`,
  ],
  script: `document.getElementById('cmd').textContent = "claudemesh join '" + location.origin + location.pathname.replace(/'/g, '') + "' --name <your-name>";`,
  noindex: true,
});

@Controller()
export class JoinPageController {
  @Get('join')
  @Header('content-type', 'text/html; charset=utf-8')
  @Header('content-security-policy', pageCsp(PAGE))
  @Header('cache-control', 'no-store')
  @Header('referrer-policy', 'no-referrer')
  page(): string {
    return PAGE;
  }

  /** The `:code` parameter is deliberately unused: nothing about the code is looked up, echoed or logged. */
  @Get('i/:code')
  @Header('content-type', 'text/html; charset=utf-8')
  @Header('content-security-policy', pageCsp(SHORT_PAGE))
  @Header('cache-control', 'no-store')
  @Header('referrer-policy', 'no-referrer')
  @Header('x-robots-tag', 'noindex')
  shortPage(): string {
    return SHORT_PAGE;
  }
}
