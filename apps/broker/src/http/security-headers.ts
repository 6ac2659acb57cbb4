import type { FastifyInstance } from 'fastify';
import { createHash } from 'node:crypto';

/**
 * The policy of an HTML page that sets none of its own (the API docs' Swagger UI, the status page):
 * scripts only from this origin, inline styles allowed (Swagger UI writes some), no framing, no
 * plugins, no base-URI or form tricks.
 */
export const DEFAULT_PAGE_CSP =
  "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; connect-src 'self'; " +
  "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/** Anything else (JSON, assets, errors): nothing may run or load from it, nor frame it. */
export const NON_PAGE_CSP = "default-src 'none'; frame-ancestors 'none'";

const sha256 = (text: string): string => `'sha256-${createHash('sha256').update(text, 'utf8').digest('base64')}'`;

/**
 * A policy for one of the broker's own pages: its inline `<script>` and `<style>` blocks are allowed
 * by hash, nothing else runs, loads or frames it. Computed once from the page's final HTML.
 */
export function pageCsp(html: string): string {
  const blocks = (tag: string): string[] => [...html.matchAll(new RegExp(`<${tag}>([\\s\\S]*?)</${tag}>`, 'g'))].map((m) => sha256(m[1]!));
  const scripts = blocks('script');
  const styles = blocks('style');
  return [
    "default-src 'none'",
    `script-src ${scripts.length > 0 ? scripts.join(' ') : "'none'"}`,
    `style-src ${styles.length > 0 ? styles.join(' ') : "'none'"}`,
    "img-src 'self'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
}

/** The same headers for a response written outside the framework (an SSE stream). */
export const RAW_SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'content-security-policy': NON_PAGE_CSP,
};

/**
 * One hook for every response the framework sends: no MIME sniffing, no framing, no referrer, and a
 * Content-Security-Policy (a page's own if its route set one). Raw answers written outside the
 * framework (SSE, refused connections, unparsable requests) set the same by hand.
 */
export function addSecurityHeaders(fastify: FastifyInstance): void {
  fastify.addHook('onSend', async (_req, reply, payload) => {
    for (const name of ['x-content-type-options', 'x-frame-options', 'referrer-policy']) void reply.header(name, RAW_SECURITY_HEADERS[name]!);
    if (!reply.hasHeader('content-security-policy')) {
      const type = String(reply.getHeader('content-type') ?? '');
      void reply.header('content-security-policy', /^text\/html/i.test(type) ? DEFAULT_PAGE_CSP : NON_PAGE_CSP);
    }
    return payload;
  });
}
