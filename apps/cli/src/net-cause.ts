/**
 * Why a connection to the broker failed, in words a person can act on: connection refused, DNS,
 * TLS, timeout, reset. Reads Node's error codes through `cause` chains (fetch wraps them in
 * "fetch failed") and AggregateErrors (happy eyeballs). No dependencies: the daemon, the fast path,
 * `doctor` and the command tree all use it.
 */
export type NetFailure = 'refused' | 'dns' | 'tls' | 'timeout' | 'unreachable' | 'reset' | 'http';

export interface NetCause {
  kind: NetFailure;
  /** e.g. "connection refused by 127.0.0.1:7900 (ws://127.0.0.1:7900/ws)" */
  text: string;
}

function parts(error: unknown, seen = new Set<unknown>()): Array<{ code: string; message: string; name: string }> {
  if (!(error instanceof Error) || seen.has(error)) return [];
  seen.add(error);
  const own = { code: String((error as { code?: unknown }).code ?? ''), message: error.message, name: error.name };
  const nested = error instanceof AggregateError ? error.errors.flatMap((e) => parts(e, seen)) : [];
  return [own, ...parts((error as { cause?: unknown }).cause, seen), ...nested];
}

function hostOf(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return url;
  }
}

/** The network cause of `error` when it is one (null for a broker refusal or a bug), naming `url`. */
export function netCause(error: unknown, url: string): NetCause | null {
  const all = parts(error);
  const has = (re: RegExp) => all.some((p) => re.test(p.code) || re.test(p.message) || re.test(p.name));
  const host = hostOf(url);
  const secure = /^(https|wss):/i.test(url);
  if (has(/ECONNREFUSED/)) return { kind: 'refused', text: `connection refused: nothing listens at ${url}` };
  if (has(/ENOTFOUND|EAI_AGAIN|EAI_NONAME|getaddrinfo/)) return { kind: 'dns', text: `DNS: cannot resolve ${host.replace(/:\d+$/, '')} of ${url}` };
  const tls = all.find((p) => /CERT|TLS|SSL|self[- ]signed|EPROTO/i.test(`${p.code} ${p.message}`));
  if (tls) return { kind: 'tls', text: `TLS handshake with ${url} failed: ${tls.message}` };
  if (has(/ETIMEDOUT|UND_ERR_CONNECT_TIMEOUT|TimeoutError|AbortError|timed out|timeout/i)) return { kind: 'timeout', text: `timeout connecting to ${url}` };
  if (has(/EHOSTUNREACH|ENETUNREACH|EHOSTDOWN|ENETDOWN/)) return { kind: 'unreachable', text: `no route to ${url}` };
  if (has(/ECONNRESET|EPIPE|socket hang up|other side closed|connection closed/)) {
    // Over TLS the handshake is the first exchange: a connection closed before any answer is a failed handshake.
    return secure
      ? { kind: 'tls', text: `TLS handshake with ${url} failed: the connection was closed before it completed (not a TLS server?)` }
      : { kind: 'reset', text: `connection to ${url} was closed before the broker answered` };
  }
  const status = all.map((p) => /Unexpected server response: (\d+)/.exec(p.message)?.[1]).find(Boolean);
  if (status) return { kind: 'http', text: `${url} answered HTTP ${status} instead of a WebSocket: a proxy, or not a claudemesh broker` };
  return null;
}
