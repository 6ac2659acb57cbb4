import { readFileSync } from 'node:fs';

/** What `GET /` tells a person or a script about this broker: nothing secret, only how to take part. */
export interface BrokerStatus {
  service: 'claudemesh broker';
  version: string;
  protocol: 1;
  /** `ok` when the database answers, else `degraded` (messages cannot be stored right now). */
  status: 'ok' | 'degraded';
  database: 'ready' | 'unavailable';
  /** Live WebSocket sessions. */
  connections: number;
  /** PUBLIC_URL when the operator set it (links and invites use it), else null. */
  public_url: string | null;
  paths: { websocket: string; rest: string; openapi: string; health: string; ready: string; status: string; web: string | null };
  join: { command: string; invite: string };
}

/** The broker package's version (apps/broker/package.json, the same from src and dist). */
export const BROKER_VERSION = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

export const JOIN_COMMAND = "claudemesh join '<invite link>' --name <your-name>";
export const INVITE_HOWTO = 'ask an owner or admin of the mesh to run `claudemesh mesh invite` (or `claudemesh mesh share` for a QR code) and send you the link; the operator finds the first invite in the broker\'s start-up output';

const ENTITIES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
const escapeHtml = (s: string): string => s.replace(/[&<>"']/g, (c) => ENTITIES[c]!);

/** The same facts as a small page for a browser. */
export function statusHtml(s: BrokerStatus): string {
  const row = (k: string, v: string) => `<tr><th>${escapeHtml(k)}</th><td>${escapeHtml(v)}</td></tr>`;
  const invite = escapeHtml(s.join.invite).replace(/`([^`]+)`/g, '<code>$1</code>');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>claudemesh broker</title>
<meta name="viewport" content="width=device-width,initial-scale=1">
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:46rem;margin:3rem auto;padding:0 1rem}code,pre{background:#f3f3f3;padding:.2rem .4rem;border-radius:4px;word-break:break-all;white-space:pre-wrap}th{text-align:left;padding-right:1rem;font-weight:600}</style>
</head><body>
<h1>claudemesh broker</h1>
<p>An end-to-end encrypted messaging mesh for Claude Code sessions, agents and humans. This broker routes and stores ciphertext; it holds no key that opens a direct or group message.</p>
<table>
${row('version', `${s.version} (protocol v${s.protocol})`)}
${row('status', `${s.status}: database ${s.database}`)}
${row('live sessions', String(s.connections))}
${s.public_url ? row('public URL', s.public_url) : ''}
</table>
<h2>Join a mesh</h2>
<p>With an invite link, in a terminal with the claudemesh CLI:</p>
<pre>${escapeHtml(s.join.command)}</pre>
<p>No invite yet? ${invite.charAt(0).toUpperCase()}${invite.slice(1)}.</p>
${s.paths.web ? `<h2>In a browser</h2>\n<p><a href="${escapeHtml(s.paths.web)}">Open the web app</a> and sign in with an API key, or run <code>claudemesh web</code> for a one-time sign-in link.</p>\n` : ''}<h2>For programs</h2>
<p>WebSocket <code>${escapeHtml(s.paths.websocket)}</code>, REST <code>${escapeHtml(s.paths.rest)}</code> (<a href="${escapeHtml(s.paths.openapi)}">OpenAPI</a>), <a href="${escapeHtml(s.paths.health)}">health</a>, <a href="${escapeHtml(s.paths.ready)}">readiness</a>. This page as JSON: <code>curl -H 'accept: application/json' &lt;this URL&gt;</code>.</p>
</body></html>
`;
}
