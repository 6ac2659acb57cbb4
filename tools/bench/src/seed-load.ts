import { MeshClient, createMesh, issueInvite, joinMesh, type InboundMessage } from '@claudemesh/core';
import { generateIdentity, generateMeshKey, type Identity } from '@claudemesh/crypto';
import { percentile, round } from './stats.js';

export interface SeedLoadOptions {
  url: string;
  adminToken: string;
  peers: number;
  messages: number;
  /** Total send rate across all peers (msg/s), open loop. */
  rate: number;
  timeoutMs: number;
  log: (line: string) => void;
}

export interface SeedLoadResult {
  peers: number;
  messages: number;
  sent: number;
  acked: number;
  delivered: number;
  delivered_ratio: number;
  e2e_p50_ms: number | null;
  e2e_p95_ms: number | null;
  e2e_p99_ms: number | null;
  e2e_max_ms: number | null;
  ack_p50_ms: number | null;
  ack_p99_ms: number | null;
  throughput_msgs_s: number;
  duration_s: number;
}

/**
 * N peers each send M crypto_box DMs to random other peers at a fixed total rate (open loop).
 * Latency is measured from the send call to the recipient's decrypted message.
 */
export async function runSeedLoad(o: SeedLoadOptions): Promise<SeedLoadResult> {
  const owner = generateIdentity();
  const mesh = await createMesh(o.url, { name: 'bench', owner, displayName: 'owner', adminToken: o.adminToken });
  const meshKey = generateMeshKey();
  const { invite } = await issueInvite(o.url, { meshId: mesh.mesh_id, meshName: 'bench', brokerUrl: o.url, issuer: owner, maxUses: o.peers });
  const identities: Identity[] = [];
  for (let i = 0; i < o.peers; i++) {
    const id = generateIdentity();
    await joinMesh(o.url, { invite, identity: id, displayName: `peer-${i}` });
    identities.push(id);
  }
  const wsUrl = `${o.url.replace(/^http/, 'ws')}/ws`;
  const sentAt = new Map<string, number>();
  const e2e: number[] = [];
  const ackLatency: number[] = [];
  const clients = await Promise.all(
    identities.map(async (identity) => {
      const c = new MeshClient({ url: wsUrl, meshId: mesh.mesh_id, identity, meshKey, resendAfterMs: 30_000 });
      c.on('message', (m: InboundMessage) => {
        const t0 = sentAt.get(m.text);
        if (t0 !== undefined) e2e.push(performance.now() - t0);
      });
      await c.connect();
      return c;
    }),
  );
  // Shared keys are derived once per peer pair in real use too; derive them before the clock starts.
  for (const c of clients) c.prepareKeys(identities.map((i) => i.publicKey));
  o.log(`seed-load: ${o.peers} peers connected, sending ${o.peers * o.messages} DMs at ${o.rate} msg/s`);
  const total = o.peers * o.messages;
  const intervalMs = 1000 / o.rate;
  const start = performance.now();
  let sent = 0;
  let acked = 0;
  const inflight: Array<Promise<void>> = [];
  while (sent < total) {
    const due = Math.min(total, Math.floor((performance.now() - start) / intervalMs) + 1);
    for (; sent < due; sent++) {
      const from = sent % o.peers;
      let to = Math.floor(Math.random() * (o.peers - 1));
      if (to >= from) to += 1;
      const text = `m${sent}`;
      const t0 = performance.now();
      sentAt.set(text, t0);
      inflight.push(
        clients[from]!.send(identities[to]!.publicKey, text).then(() => {
          acked += 1;
          ackLatency.push(performance.now() - t0);
        }),
      );
    }
    await new Promise((r) => setTimeout(r, Math.max(1, intervalMs)));
    if (sent % 5000 < due - sent + 1) o.log(`  sent ${sent}/${total}, acked ${acked}, delivered ${e2e.length}`);
  }
  const deadline = performance.now() + o.timeoutMs;
  while (e2e.length < total && performance.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  const duration = (performance.now() - start) / 1000;
  await Promise.race([Promise.allSettled(inflight), new Promise((r) => setTimeout(r, 1000))]);
  await Promise.all(clients.map((c) => c.close()));
  return {
    peers: o.peers,
    messages: o.messages,
    sent,
    acked,
    delivered: e2e.length,
    delivered_ratio: round(e2e.length / total, 4),
    e2e_p50_ms: percentile(e2e, 50),
    e2e_p95_ms: percentile(e2e, 95),
    e2e_p99_ms: percentile(e2e, 99),
    e2e_max_ms: percentile(e2e, 100),
    ack_p50_ms: percentile(ackLatency, 50),
    ack_p99_ms: percentile(ackLatency, 99),
    throughput_msgs_s: round(e2e.length / duration, 1),
    duration_s: round(duration, 2),
  };
}
