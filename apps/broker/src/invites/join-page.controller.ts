import { Controller, Get, Header } from '@nestjs/common';

/**
 * The https form of an invite (`<broker>/join#<blob>`) lands here. The blob, which holds the mesh
 * key, stays in the fragment: browsers never send it, and this page only shows the join command.
 */
const PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Join a claudemesh mesh</title>
<meta name="viewport" content="width=device-width,initial-scale=1">
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:46rem;margin:3rem auto;padding:0 1rem}code,pre{background:#f3f3f3;padding:.2rem .4rem;border-radius:4px;word-break:break-all;white-space:pre-wrap}</style>
</head><body>
<h1>You are invited to a claudemesh mesh</h1>
<p>Run this in a terminal, from a claudemesh checkout after <code>npm install</code>:</p>
<pre id="cmd">claudemesh join '&lt;this page's full URL&gt;' --name &lt;your-name&gt;</pre>
<p>The part of the link after <code>#</code> carries the mesh key. It never leaves your machine: the broker does not receive it.</p>
<script>
  if (location.hash.length > 1) {
    document.getElementById('cmd').textContent = "npx claudemesh join '" + location.href.replace(/'/g, '') + "' --name <your-name>";
  }
</script>
</body></html>
`;

/**
 * A short invite link (`<broker>/i/<code>`, §9b) opened in a browser: the code is in the path, so the
 * browser has sent it here. The page never echoes it (the script reads it from the address bar), is
 * never cached or indexed, leaks no referrer, and the broker logs no request paths.
 */
const SHORT_PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Join a claudemesh mesh</title>
<meta name="viewport" content="width=device-width,initial-scale=1"><meta name="robots" content="noindex">
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:46rem;margin:3rem auto;padding:0 1rem}code,pre{background:#f3f3f3;padding:.2rem .4rem;border-radius:4px;word-break:break-all;white-space:pre-wrap}</style>
</head><body>
<h1>You are invited to a claudemesh mesh</h1>
<p>Run this in a terminal, with the claudemesh CLI installed:</p>
<pre id="cmd">claudemesh join '&lt;this page's full URL&gt;' --name &lt;your-name&gt;</pre>
<p>The CLI never sends the code itself: it derives a lookup and a key from it, and the broker only ever stores the mesh key wrapped under that key.</p>
<p><strong>Opening this link in a browser sent the code to this broker.</strong> If you do not trust the operator of this broker, ask whoever invited you for a new code and paste it into the terminal instead of a browser.</p>
<script>
  document.getElementById('cmd').textContent = "claudemesh join '" + location.origin + location.pathname.replace(/'/g, '') + "' --name <your-name>";
</script>
</body></html>
`;

@Controller()
export class JoinPageController {
  @Get('join')
  @Header('content-type', 'text/html; charset=utf-8')
  @Header('cache-control', 'no-store')
  @Header('referrer-policy', 'no-referrer')
  page(): string {
    return PAGE;
  }

  /** The `:code` parameter is deliberately unused: nothing about the code is looked up, echoed or logged. */
  @Get('i/:code')
  @Header('content-type', 'text/html; charset=utf-8')
  @Header('cache-control', 'no-store')
  @Header('referrer-policy', 'no-referrer')
  @Header('x-robots-tag', 'noindex')
  shortPage(): string {
    return SHORT_PAGE;
  }
}
