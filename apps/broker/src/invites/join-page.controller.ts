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

@Controller()
export class JoinPageController {
  @Get('join')
  @Header('content-type', 'text/html; charset=utf-8')
  @Header('cache-control', 'no-store')
  @Header('referrer-policy', 'no-referrer')
  page(): string {
    return PAGE;
  }
}
