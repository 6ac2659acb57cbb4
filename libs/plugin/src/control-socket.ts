import { existsSync, rmSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import { join } from 'node:path';
import type { InstanceStatus } from './host.js';

/** Where a running host answers `plugin status` and `plugin logs` (docs/plugins.md §4). */
export function hostSocketPath(home: string): string {
  return join(home, 'plugin-host.sock');
}

/** What the host's socket serves. */
export interface HostControl {
  status(): InstanceStatus[];
  logs(instance: string, n: number): string[];
}

/** Serves GET /status and GET /logs?instance=&n= on a unix socket (owner-only: the home is 0700). */
export async function serveHostControl(path: string, host: HostControl): Promise<Server> {
  if (existsSync(path)) rmSync(path);
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://host');
    const send = (code: number, body: unknown): void => {
      res.writeHead(code, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    try {
      if (req.method === 'GET' && url.pathname === '/status') return send(200, host.status());
      if (req.method === 'GET' && url.pathname === '/logs') {
        const n = Math.min(1000, Math.max(1, Number(url.searchParams.get('n') ?? 100) || 100));
        return send(200, host.logs(url.searchParams.get('instance') ?? '', n));
      }
      send(404, { code: 'E_NOT_FOUND', message: `no ${req.method} ${url.pathname}` });
    } catch (error) {
      send(404, { code: (error as { code?: string }).code ?? 'E_PLUGIN_NOT_FOUND', message: (error as Error).message });
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => resolve());
  });
  return server;
}

/** Asks a running host; rejects with code E_NO_HOST when none listens at `path`. */
export async function askHost<T>(path: string, route: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath: path, path: route, method: 'GET' }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => {
        try {
          const value = JSON.parse(body) as T & { code?: string; message?: string };
          if ((res.statusCode ?? 500) >= 400) reject(Object.assign(new Error(value.message ?? body), { code: value.code }));
          else resolve(value);
        } catch (error) {
          reject(error);
        }
      });
    });
    req.on('error', (error: NodeJS.ErrnoException) => {
      reject(Object.assign(new Error(`no plugin host is running for this home (${path}: ${error.code ?? error.message}); start one with: claudemesh plugin run <plugins.yaml>`), { code: 'E_NO_HOST' }));
    });
    req.end();
  });
}
