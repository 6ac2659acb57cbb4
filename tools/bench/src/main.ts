import { cryptoReady } from '@claudemesh/crypto';
import { parseArgs } from 'node:util';
import { PeakSampler } from './process-stats.js';
import { cliScenario } from './scenarios/cli.js';
import { connections } from './scenarios/connections.js';
import { fanout } from './scenarios/fanout.js';
import { saturation } from './scenarios/saturation.js';
import { seedLoad } from './scenarios/seed-load.js';
import { sseFanout } from './scenarios/sse-fanout.js';
import { topicE2e, topicE2eLine, type TopicE2eOptions } from './scenarios/topic-e2e.js';
import { bridgeBench, bridgeLine, type BridgeBenchOptions } from './scenarios/bridge.js';
import { webBench, webLine, type WebBenchOptions } from './scenarios/web.js';
import { metricsCost, metricsCostLines } from './scenarios/metrics-cost.js';
import { round } from './stats.js';
import { BaselineSystem } from './transports/baseline.js';
import { MeshSystem } from './transports/mesh.js';
import type { BenchPeer, BenchSystem } from './transports/transport.js';

const SCENARIOS = ['seed-load', 'saturation', 'fanout', 'sse-fanout', 'topic-e2e', 'bridge', 'web', 'metrics', 'connections', 'cli'] as const;
type Scenario = (typeof SCENARIOS)[number];

const USAGE = `npm run bench -- [--scenario seed-load|saturation|fanout|sse-fanout|topic-e2e|bridge|web|metrics|connections|cli|all] [--json]
  seed-load:   --peers 100 --messages 1000 --rate 5600 --size 256
  saturation:  --peers 20 --window 16 --seconds 10
  fanout:      --peers 101 (1 publisher + 100 subscribers) --messages 500 --window 8
  sse-fanout:  the same fan-out twice on one broker: to 100 SSE streams of a topic (REST publisher)
               and to an @group of 100 WebSocket members (the baseline; ratio = SSE / WS)
  topic-e2e:   --peers 101 --messages 300 --rounds 3 --window 8 --probes 1 --open both: 1 WebSocket
               member → 100 of a plaintext topic and of an e2e topic (the sender seals every post), in
               --rounds rounds on one broker (phase order rotated; medians). Primary (--open probes):
               --probes subscribers open and verify every e2e message, the others check each is sealed
               and count it; ratio = e2e / plaintext, target 0.8. Secondary (--open all): every
               subscriber opens every message, all in this one process. --open both runs both.
               Then --rotations 5 of a --rotation-members 100 e2e topic: one member builds
               and publishes the next epoch (a seal each), timed to its ack and until the others opened theirs
  bridge:      --messages 1000 --rate 500 --rounds 3: meshes alpha and beta, e2e #general on both,
               the bridge plugin run by the plugin host; a direct post in beta vs a post in alpha
               forwarded by the bridge, each read and opened by a beta member; added latency
               (p50/p99) of the hop, target p99 < 20 ms at 500 msg/s (no baseline relay)
  web:         --messages 200 --spacing 25: an agent posts to a plaintext #general over REST, the web app
               in Chromium paints each message and a plain SSE client reads the same stream; post-to-paint
               vs post-to-receipt p50/p99 (baseline: the SSE client), and the app's first load gzipped
               (target < 150 KB). Needs Chromium (chromium-headless-shell or CLAUDEMESH_CHROMIUM)
  metrics:     --rounds 3 --scrape-ms 1000: seed-load (--peers 100 --messages 1000 --rate 5600) then
               saturation (--seconds 10 --window 16) on a fresh broker with CLAUDEMESH_METRICS=off and
               one with metrics on and /metrics scraped every --scrape-ms, alternated over --rounds
               rounds; medians and on/off ratios (targets: throughput ≥ ×0.95, p99 ≤ ×1.10)
  connections: --connections 10000 --sessions-per-member 100
  cli:         --runs 15: whole CLI processes vs node -e 0 in the same round-robin (no baseline relay)
  --warmup 3: seconds of the same traffic before the measured phase (seed-load, saturation; fanout
  and topic-e2e send a fifth of --messages first; bridge runs a direct and a bridged phase of at most
  --messages at --rate for that long each); 0 measures from a cold start. Warm-up figures are reported
  apart and never counted.
Runs the built broker on the embedded database, or on Postgres with DATABASE_URL, and the bare
baseline relay, each in its own process, in the same run. Progress on stderr; with --json one
object per scenario on stdout.`;

const log = (line: string): void => void process.stderr.write(`${line}\n`);

interface Args {
  scenario: string;
  peers?: string;
  messages?: string;
  rate?: string;
  size: string;
  window?: string;
  seconds: string;
  connections: string;
  'sessions-per-member': string;
  timeout: string;
  warmup: string;
  runs: string;
  rounds: string;
  rotations: string;
  'rotation-members': string;
  spacing: string;
  probes: string;
  open: string;
  json: boolean;
  'skip-baseline': boolean;
  'broker-node-args': string;
  'scrape-ms': string;
  help: boolean;
}

async function runOn<T>(system: BenchSystem & { start(): Promise<void> }, work: (sys: BenchSystem) => Promise<T>): Promise<T & { broker_rss_peak_mb: number; broker_fds_peak: number }> {
  await system.start();
  const sampler = new PeakSampler(system.serverPid);
  try {
    const result = await work(system);
    return { ...result, ...sampler.stop() };
  } finally {
    sampler.stop();
    await system.stop();
  }
}

async function withPeers<T>(sys: BenchSystem, count: number, work: (peers: BenchPeer[]) => Promise<T>): Promise<T> {
  const peers = await sys.connect(count);
  try {
    return await work(peers);
  } finally {
    await Promise.all(peers.map((p) => p.close()));
  }
}

async function scenario(name: Scenario, a: Args): Promise<Record<string, unknown>> {
  const databaseUrl = process.env['DATABASE_URL'] || undefined;
  const mesh = () => new MeshSystem(databaseUrl, a['broker-node-args'].split(' ').filter(Boolean));
  const size = Number(a.size);
  const timeoutMs = Number(a.timeout) * 1000;
  let run: (sys: BenchSystem) => Promise<Record<string, unknown>>;
  switch (name) {
    case 'seed-load': {
      const peers = Number(a.peers ?? 100);
      const opts = { messages: Number(a.messages ?? 1000), rate: Number(a.rate ?? 5600), size, timeoutMs, warmupSeconds: Number(a.warmup), log };
      run = (sys) => withPeers(sys, peers, async (p) => ({ peers, ...(await seedLoad(p, opts)) }));
      break;
    }
    case 'saturation': {
      const peers = Number(a.peers ?? 20);
      const opts = { window: Number(a.window ?? 16), seconds: Number(a.seconds), size, warmupSeconds: Number(a.warmup), log };
      run = (sys) => withPeers(sys, peers, async (p) => ({ peers, ...(await saturation(p, opts)) }));
      break;
    }
    case 'fanout': {
      const peers = Number(a.peers ?? 101);
      const messages = Number(a.messages ?? 500);
      const opts = { messages, window: Number(a.window ?? 8), size, timeoutMs, warmupMessages: Number(a.warmup) > 0 ? Math.ceil(messages / 5) : 0, log };
      run = (sys) => withPeers(sys, peers, async (p) => ({ peers, ...(await fanout(p, opts)) }));
      break;
    }
    case 'cli': {
      const opts = { runs: Number(a.runs), log };
      const system = mesh();
      log(`${name}: claudemesh CLI against the broker (${system.db})`);
      const result = await runOn(system, (sys) => cliScenario(sys as MeshSystem, opts));
      return { scenario: name, db: system.db, peers: null, messages: null, delivered: null, delivered_ratio: null, e2e_p50_ms: null, e2e_p99_ms: null, ack_p99_ms: null, throughput_msgs_s: null, baseline_throughput_msgs_s: null, ratio_to_baseline: null, rss_per_conn_kb: null, ...result, baseline: null, node: process.version, at: new Date().toISOString() };
    }
    case 'sse-fanout': {
      const messages = Number(a.messages ?? 500);
      const opts = { subscribers: Number(a.peers ?? 101) - 1, messages, window: Number(a.window ?? 8), size, timeoutMs, warmupMessages: Number(a.warmup) > 0 ? Math.ceil(messages / 5) : 0, log };
      const system = mesh();
      log(`${name}: SSE topic streams vs WebSocket @group fan-out on one broker (${system.db})`);
      const result = await runOn(system, (sys) => sseFanout(sys as MeshSystem, opts));
      return { scenario: name, db: system.db, rss_per_conn_kb: null, ...result, node: process.version, at: new Date().toISOString() };
    }
    case 'topic-e2e': {
      const messages = Number(a.messages ?? 300);
      const open = a.open;
      if (open !== 'probes' && open !== 'all' && open !== 'both') throw new Error(`--open must be probes, all or both, not ${open}\n${USAGE}`);
      const opts: TopicE2eOptions = {
        subscribers: Number(a.peers ?? 101) - 1, messages, rounds: Number(a.rounds), window: Number(a.window ?? 8), size, timeoutMs,
        warmupMessages: Number(a.warmup) > 0 ? Math.ceil(messages / 5) : 0, rotationMembers: Number(a['rotation-members']), rotations: Number(a.rotations),
        probes: Number(a.probes), open, log,
      };
      const system = mesh();
      log(`${name}: plaintext vs end-to-end encrypted topic fan-out, and epoch rotation, on one broker (${system.db})`);
      const result = await runOn(system, (sys) => topicE2e(sys as MeshSystem, opts));
      return { scenario: name, db: system.db, rss_per_conn_kb: null, ...result, node: process.version, at: new Date().toISOString() };
    }
    case 'bridge': {
      const messages = Number(a.messages ?? 1000);
      const rate = Number(a.rate ?? 500);
      const warmupMessages = Math.min(messages, Math.round(Number(a.warmup) * rate));
      const opts: BridgeBenchOptions = { messages, rate, rounds: Number(a.rounds), size, timeoutMs, warmupMessages, log };
      const system = mesh();
      log(`${name}: one bridge hop vs a direct topic post on one broker (${system.db})`);
      const result = await runOn(system, (sys) => bridgeBench(sys as MeshSystem, opts));
      return { scenario: name, db: system.db, ...result, node: process.version, at: new Date().toISOString() };
    }
    case 'web': {
      const opts: WebBenchOptions = { messages: Number(a.messages ?? 200), spacingMs: Number(a.spacing), timeoutMs, log };
      const system = mesh();
      log(`${name}: agent post → painted in the web app vs → an SSE client, on one broker (${system.db})`);
      const result = await runOn(system, (sys) => webBench(sys as MeshSystem, opts));
      return { scenario: name, db: system.db, ...result, node: process.version, at: new Date().toISOString() };
    }
    case 'metrics': {
      const databaseUrl = process.env['DATABASE_URL'] || undefined;
      const result = await metricsCost({
        rounds: Number(a.rounds),
        peers: Number(a.peers ?? 100),
        scrapeMs: Number(a['scrape-ms']),
        seedLoad: { messages: Number(a.messages ?? 1000), rate: Number(a.rate ?? 5600), size, timeoutMs, warmupSeconds: Number(a.warmup), log },
        saturation: { window: Number(a.window ?? 16), seconds: Number(a.seconds), size, log },
        databaseUrl,
        nodeArgs: a['broker-node-args'].split(' ').filter(Boolean),
        log,
      });
      return { scenario: name, db: databaseUrl ? 'postgres' : 'embedded', ...result, node: process.version, at: new Date().toISOString() };
    }
    case 'connections': {
      const opts = { connections: Number(a.connections), sessionsPerMember: Number(a['sessions-per-member']), log };
      run = (sys) => connections(sys, opts);
      break;
    }
  }
  let baseline: Record<string, unknown> | null = null;
  if (!a['skip-baseline']) {
    log(`${name}: baseline relay`);
    baseline = await runOn(new BaselineSystem(), run);
  }
  const system = mesh();
  log(`${name}: claudemesh broker (${system.db})`);
  const result = await runOn(system, run);
  const throughput = typeof result['throughput_msgs_s'] === 'number' ? result['throughput_msgs_s'] : null;
  const baseThroughput = typeof baseline?.['throughput_msgs_s'] === 'number' ? baseline['throughput_msgs_s'] : null;
  const perConn = typeof result['rss_per_conn_kb'] === 'number' ? result['rss_per_conn_kb'] : null;
  const basePerConn = typeof baseline?.['rss_per_conn_kb'] === 'number' ? baseline['rss_per_conn_kb'] : null;
  return {
    scenario: name,
    db: system.db,
    peers: null,
    messages: null,
    delivered: null,
    delivered_ratio: null,
    e2e_p50_ms: null,
    e2e_p99_ms: null,
    ack_p99_ms: null,
    throughput_msgs_s: null,
    rss_per_conn_kb: null,
    ...result,
    baseline_throughput_msgs_s: baseThroughput,
    // For connections the ratio compares memory per connection (lower is better for both).
    ratio_to_baseline:
      name === 'connections'
        ? perConn !== null && basePerConn ? round(perConn / basePerConn, 2) : null
        : throughput !== null && baseThroughput ? round(throughput / baseThroughput, 3) : null,
    baseline: baseline,
    node: process.version,
    at: new Date().toISOString(),
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      scenario: { type: 'string', default: 'seed-load' },
      peers: { type: 'string' },
      messages: { type: 'string' },
      rate: { type: 'string' },
      size: { type: 'string', default: '256' },
      window: { type: 'string' },
      seconds: { type: 'string', default: '10' },
      connections: { type: 'string', default: '10000' },
      'sessions-per-member': { type: 'string', default: '100' },
      timeout: { type: 'string', default: '120' },
      warmup: { type: 'string', default: '3' },
      runs: { type: 'string', default: '15' },
      rounds: { type: 'string', default: '3' },
      spacing: { type: 'string', default: '25' },
      rotations: { type: 'string', default: '5' },
      'rotation-members': { type: 'string', default: '100' },
      probes: { type: 'string', default: '1' },
      open: { type: 'string', default: 'both' },
      json: { type: 'boolean', default: false },
      'skip-baseline': { type: 'boolean', default: false },
      'broker-node-args': { type: 'string', default: '' },
      'scrape-ms': { type: 'string', default: '1000' },
      help: { type: 'boolean', default: false },
    },
  });
  const a = values as Args;
  if (a.help) {
    log(USAGE);
    return;
  }
  const names: Scenario[] = a.scenario === 'all' ? [...SCENARIOS] : [a.scenario as Scenario];
  for (const n of names) if (!SCENARIOS.includes(n)) throw new Error(`unknown scenario ${n}\n${USAGE}`);
  await cryptoReady();
  for (const n of names) {
    const row = await scenario(n, a);
    if (a.json) process.stdout.write(`${JSON.stringify(row)}\n`);
    else if (n === 'topic-e2e') process.stdout.write(`${topicE2eLine(row)}\n`);
    else if (n === 'bridge') process.stdout.write(`${bridgeLine(row)}\n`);
    else if (n === 'web') process.stdout.write(`${webLine(row)}\n`);
    else if (n === 'metrics') process.stdout.write(`${metricsCostLines(row)}\n`);
    else log(JSON.stringify(row, null, 2));
  }
}

main().catch((error: unknown) => {
  log(`bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
  process.exit(1);
});
