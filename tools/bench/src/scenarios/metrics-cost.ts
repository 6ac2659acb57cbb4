import { PeakSampler } from '../process-stats.js';
import { percentile, round } from '../stats.js';
import { MeshSystem } from '../transports/mesh.js';
import { saturation, type SaturationOptions } from './saturation.js';
import { seedLoad, type SeedLoadOptions } from './seed-load.js';

export interface MetricsCostOptions {
  rounds: number;
  peers: number;
  /** How often `/metrics` is scraped while metrics are on (Prometheus' default is 15 000). */
  scrapeMs: number;
  seedLoad: SeedLoadOptions;
  saturation: Omit<SaturationOptions, 'warmupSeconds'>;
  databaseUrl: string | undefined;
  nodeArgs: string[];
  log: (line: string) => void;
}

type Mode = 'off' | 'on';

interface RunFigures {
  seed_throughput_msgs_s: number;
  seed_delivered_ratio: number | null;
  seed_e2e_p50_ms: number | null;
  seed_e2e_p99_ms: number | null;
  saturation_msgs_s: number;
  broker_rss_peak_mb: number;
  scrapes: number;
  scrape_kb: number | null;
}

/**
 * The cost of metrics: the seed-load scenario (open loop, the latency figures) and the saturation
 * scenario (closed loop, the highest delivered rate) on a broker with CLAUDEMESH_METRICS=off and on
 * one with metrics on and `/metrics` scraped every `scrapeMs`, alternated over `rounds` rounds
 * (order rotated, so drift on a shared machine falls on both), each on a fresh broker. Medians.
 */
export async function metricsCost(o: MetricsCostOptions) {
  const runs: Record<Mode, RunFigures[]> = { off: [], on: [] };
  for (let r = 0; r < o.rounds; r++) {
    const order: Mode[] = r % 2 === 0 ? ['off', 'on'] : ['on', 'off'];
    for (const mode of order) {
      o.log(`  round ${r + 1}/${o.rounds}: metrics ${mode}`);
      runs[mode].push(await oneRun(mode, o));
    }
  }
  const median = (mode: Mode, key: keyof RunFigures): number | null => percentile(runs[mode].map((f) => f[key]).filter((v): v is number => typeof v === 'number'), 50);
  const summary = (mode: Mode) => ({
    seed_throughput_msgs_s: median(mode, 'seed_throughput_msgs_s'),
    seed_e2e_p50_ms: median(mode, 'seed_e2e_p50_ms'),
    seed_e2e_p99_ms: median(mode, 'seed_e2e_p99_ms'),
    saturation_msgs_s: median(mode, 'saturation_msgs_s'),
    broker_rss_peak_mb: median(mode, 'broker_rss_peak_mb'),
  });
  const off = summary('off');
  const on = summary('on');
  const ratio = (a: number | null, b: number | null): number | null => (a !== null && b ? round(a / b, 3) : null);
  return {
    peers: o.peers,
    messages: o.seedLoad.messages,
    rate: o.seedLoad.rate,
    rounds: o.rounds,
    scrape_ms: o.scrapeMs,
    off,
    on,
    seed_throughput_ratio: ratio(on.seed_throughput_msgs_s, off.seed_throughput_msgs_s),
    seed_p99_ratio: ratio(on.seed_e2e_p99_ms, off.seed_e2e_p99_ms),
    saturation_ratio: ratio(on.saturation_msgs_s, off.saturation_msgs_s),
    scrape_kb: median('on', 'scrape_kb'),
    runs,
  };
}

async function oneRun(mode: Mode, o: MetricsCostOptions): Promise<RunFigures> {
  const system = new MeshSystem(o.databaseUrl, o.nodeArgs, { CLAUDEMESH_METRICS: mode });
  await system.start();
  const sampler = new PeakSampler(system.serverPid);
  let scrapes = 0;
  let scrapeBytes = 0;
  let scraper: NodeJS.Timeout | undefined;
  try {
    const peers = await system.connect(o.peers);
    try {
      if (mode === 'on') {
        scraper = setInterval(() => {
          void fetch(`${system.url}/metrics`)
            .then(async (res) => {
              if (res.status !== 200) throw new Error(`/metrics answered ${res.status}`);
              scrapeBytes += (await res.text()).length;
              scrapes++;
            })
            .catch((error: unknown) => o.log(`  scrape failed: ${String(error)}`));
        }, o.scrapeMs);
      }
      const seed = await seedLoad(peers, o.seedLoad);
      const sat = await saturation(peers, { ...o.saturation, warmupSeconds: 0 });
      return {
        seed_throughput_msgs_s: seed.throughput_msgs_s,
        seed_delivered_ratio: seed.delivered_ratio,
        seed_e2e_p50_ms: seed.e2e_p50_ms,
        seed_e2e_p99_ms: seed.e2e_p99_ms,
        saturation_msgs_s: sat.throughput_msgs_s,
        broker_rss_peak_mb: sampler.stop().broker_rss_peak_mb,
        scrapes,
        scrape_kb: scrapes > 0 ? round(scrapeBytes / scrapes / 1024, 1) : null,
      };
    } finally {
      clearInterval(scraper);
      await Promise.all(peers.map((p) => p.close()));
    }
  } finally {
    sampler.stop();
    await system.stop();
  }
}

/** One line per mode and the ratios, as docs/performance.md quotes them. */
export function metricsCostLines(row: Record<string, unknown>): string {
  const s = (m: 'off' | 'on') => row[m] as Record<string, number | null>;
  const line = (m: 'off' | 'on') =>
    `metrics ${m.padEnd(3)}: seed-load ${s(m)['seed_throughput_msgs_s']} msg/s, e2e p50 ${s(m)['seed_e2e_p50_ms']} ms, p99 ${s(m)['seed_e2e_p99_ms']} ms; saturation ${s(m)['saturation_msgs_s']} msg/s; broker RSS peak ${s(m)['broker_rss_peak_mb']} MB`;
  const ratio = (key: string) => (typeof row[key] === 'number' ? (row[key] as number).toFixed(3) : 'n/a');
  return [
    line('off'),
    line('on'),
    `on/off (medians of ${row['rounds']} rounds, ${row['db']}, /metrics scraped every ${row['scrape_ms']} ms, ${row['scrape_kb']} KB each): seed-load throughput ×${ratio('seed_throughput_ratio')}, p99 ×${ratio('seed_p99_ratio')}; saturation ×${ratio('saturation_ratio')} (targets: throughput ≥ ×0.95, p99 ≤ ×1.10)`,
  ].join('\n');
}
