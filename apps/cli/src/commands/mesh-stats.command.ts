import { AnalyticsBucket, AnalyticsWindow, HANDOFF_BUCKETS_MS, meshAnalytics, type MeshAnalytics } from '@claudemesh/core';
import { Option, SubCommand } from 'nest-commander';
import { CliError, EXIT, MeshVerb, print, selectMesh, type CommonOptions } from '../context.js';
import { Gated } from '../gated.js';
import { signedCall } from '../rest/signed-call.js';
import { durationText, latencyText, sparkline } from '../sparkline.js';
import { columns } from '../table.js';
import { safeLine } from '../terminal-text.js';

interface StatsOptions extends CommonOptions {
  window?: string;
  bucket?: string;
}

const HINTS = {
  E_FORBIDDEN: 'mesh analytics are for the owner and admins; ask the owner (claudemesh peer list shows who that is)',
};

const utc = (ms: number, bucket: MeshAnalytics['bucket']): string => {
  const iso = new Date(ms).toISOString();
  return bucket === 'hour' ? `${iso.slice(0, 13).replace('T', ' ')}:00Z` : iso.slice(0, 10);
};

/** The terminal view of an analytics answer; every name from the broker goes through safeLine. */
export function statsText(meshName: string, a: MeshAnalytics): string {
  const last = HANDOFF_BUCKETS_MS[HANDOFF_BUCKETS_MS.length - 1]!;
  const lines = [
    `mesh "${safeLine(meshName)}" — last ${a.window}, per ${a.bucket} (UTC)${a.collecting ? '' : '  [analytics are off on this broker: CLAUDEMESH_ANALYTICS_RETENTION_DAYS=0]'}`,
    '',
    `messages    ${sparkline(a.series.map((p) => p.messages))}  ${a.totals.messages}`,
    `topic posts ${sparkline(a.series.map((p) => p.topic_posts))}  ${a.totals.topic_posts}`,
    `delivered   ${sparkline(a.series.map((p) => p.delivered))}  ${a.totals.delivered}`,
    `            ${utc(a.series[0]?.t ?? a.from, a.bucket)} … now; ${a.totals.bytes} bytes`,
    '',
    `handoff (accepted → delivered): ${a.handoff.count} deliveries; p50 ${latencyText(a.handoff.p50_ms, a.handoff.count, last)}  p90 ${latencyText(a.handoff.p90_ms, a.handoff.count, last)}  p99 ${latencyText(a.handoff.p99_ms, a.handoff.count, last)}`,
    '',
    'busiest topics:',
    a.busiest_topics.length === 0 ? '  (no topic posts in this window)' : columns(a.busiest_topics.map((t) => [`  #${safeLine(t.name)}`, String(t.posts)])),
    '',
    'peer uptime:',
    a.uptime.length === 0
      ? '  (no members)'
      : columns([
          ['  MEMBER', 'ONLINE', 'UPTIME', '%'],
          ...a.uptime.map((u) => [`  ${safeLine(u.display_name)}`, u.online ? 'yes' : 'no', durationText(u.seconds_online), u.percent < 0.1 && u.percent > 0 ? '<0.1' : u.percent.toFixed(1)]),
        ]),
  ];
  return lines.join('\n');
}

/** `mesh stats`: a mesh's analytics (owner or admin) over the signed member route (protocol §8.7). */
@Gated({ resource: 'mesh', verb: 'stats' })
@SubCommand({ name: 'stats', description: 'Mesh analytics (owner or admin): message volume, handoff latency, busiest topics, peer uptime — from metadata only' })
export class MeshStatsCommand extends MeshVerb<StatsOptions> {
  async run(_args: string[], options: StatsOptions): Promise<void> {
    const window = AnalyticsWindow.safeParse(options.window ?? '24h');
    if (!window.success) throw new CliError(`--window takes 24h, 7d or 30d, not "${options.window}"`, EXIT.usage);
    const bucket = options.bucket === undefined ? undefined : AnalyticsBucket.safeParse(options.bucket);
    if (bucket && !bucket.success) throw new CliError(`--bucket takes hour or day, not "${options.bucket}"`, EXIT.usage);
    const mesh = selectMesh(options.mesh);
    if (mesh.role === 'member') throw new CliError(`you are a member of "${safeLine(mesh.mesh_name)}"; only its owner or an admin reads its analytics\n  next: ${HINTS.E_FORBIDDEN}`, EXIT.failure);
    const stats = await signedCall(mesh, (identity) => meshAnalytics(mesh.broker_url, identity, mesh.mesh_id, window.data, bucket?.data), HINTS);
    print(options.json ?? false, stats, statsText(mesh.mesh_name, stats));
  }

  @Option({ flags: '-w, --window <window>', description: '24h (default), 7d or 30d' })
  parseWindow(value: string): string {
    return value;
  }

  @Option({ flags: '--bucket <bucket>', description: 'hour or day (default: hour for 24h, day otherwise)' })
  parseBucket(value: string): string {
    return value;
  }
}
