/**
 * The page an invite link shows in a browser: the join command to run, with `paragraphs` saying
 * what the link carries, and `script` (run in the page) filling in the command from the address.
 * `noindex` pages also carry the robots meta tag.
 */
export function joinPage(options: { intro: string; paragraphs: string[]; script: string; noindex?: boolean }): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Join a claudemesh mesh</title>
<meta name="viewport" content="width=device-width,initial-scale=1">${options.noindex ? '<meta name="robots" content="noindex">' : ''}
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:46rem;margin:3rem auto;padding:0 1rem}code,pre{background:#f3f3f3;padding:.2rem .4rem;border-radius:4px;word-break:break-all;white-space:pre-wrap}</style>
</head><body>
<h1>You are invited to a claudemesh mesh</h1>
<p>${options.intro}</p>
<pre id="cmd">claudemesh join '&lt;this page's full URL&gt;' --name &lt;your-name&gt;</pre>
${options.paragraphs.map((p) => `<p>${p}</p>`).join('\n')}
<script>
  ${options.script}
</script>
</body></html>
`;
}
