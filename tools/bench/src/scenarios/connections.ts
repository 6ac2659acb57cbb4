import type { BenchPeer, BenchSystem } from '../transports/transport.js';
import { processStats } from '../process-stats.js';

export interface ConnectionsOptions {
  connections: number;
  sessionsPerMember: number;
  log: (line: string) => void;
}

/** Opens many idle authenticated connections; the server's resident memory per connection. */
export async function connections(system: BenchSystem, o: ConnectionsOptions) {
  // Settle the server with one connection first, so start-up allocations do not count.
  const warm = await system.connect(1, { sessionsPerMember: 1 });
  await new Promise((r) => setTimeout(r, 500));
  globalThis.gc?.();
  const before = processStats(system.serverPid);
  const started = performance.now();
  const peers: BenchPeer[] = await system.connect(o.connections, { sessionsPerMember: o.sessionsPerMember });
  const seconds = (performance.now() - started) / 1000;
  o.log(`  ${peers.length} connections open in ${seconds.toFixed(1)} s`);
  await new Promise((r) => setTimeout(r, 2000));
  const after = processStats(system.serverPid);
  const perConnKb = before.rssMb !== null && after.rssMb !== null ? Math.round(((after.rssMb - before.rssMb) * 1024) / peers.length * 10) / 10 : null;
  for (let i = 0; i < peers.length; i += 500) await Promise.all(peers.slice(i, i + 500).map((p) => p.close()));
  for (const p of warm) await p.close();
  return {
    peers: peers.length,
    messages: null,
    connect_seconds: Math.round(seconds * 10) / 10,
    server_rss_before_mb: before.rssMb,
    server_rss_after_mb: after.rssMb,
    server_fds: after.fds,
    rss_per_conn_kb: perConnKb,
  };
}
