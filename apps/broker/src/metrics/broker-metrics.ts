import { CLIENT_FRAME_SCHEMAS, ERROR_CODES, HANDOFF_BUCKETS_MS, SERVER_FRAME_SCHEMAS } from '@claudemesh/core';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics, type CounterConfiguration } from 'prom-client';

/** What `CLAUDEMESH_METRICS` and `CLAUDEMESH_METRICS_TOKEN` set (broker.config.ts). */
export interface MetricsSettings {
  enabled: boolean;
  /** Unset: `/metrics` answers loopback clients only. */
  token: string | undefined;
}

/** Counts the frames one WebSocket writes (limits/outbound.ts); no-op when metrics are off. */
export interface FrameMeter {
  frameOut(frame: string): void;
}

/**
 * The error codes that are a limit refusing work (docs/self-hosting.md "Limits"): rate limits and
 * connection caps, the offline-queue quota, size limits, and slow consumers cut off. E_UNAVAILABLE
 * is a refusal only from the broker's connection cap (an unreachable database is not a limit).
 */
export const REFUSAL_CODES = Object.freeze(['E_RATE_LIMITED', 'E_QUEUE_FULL', 'E_TOO_LARGE', 'E_SLOW_CONSUMER', 'E_UNAVAILABLE'] as const);
export type RefusalCode = (typeof REFUSAL_CODES)[number];
/** Errors answered with these codes always are refusals (error() counts them). */
const isRefusal = (code: string): code is RefusalCode => code !== 'E_UNAVAILABLE' && (REFUSAL_CODES as readonly string[]).includes(code);

/** At most this many meshes get a label of their own in per-mesh series; the rest count as `other`. */
export const MESH_LABEL_LIMIT = 200;
/** The mesh label of a refusal before any mesh is known (no hello yet, an unauthenticated request). */
export const NO_MESH = 'none';
const OTHER_MESHES = 'other';

/** What `claudemesh_db_pool_*` read from the database pool (pg.Pool) at scrape time. */
export interface PoolCounts {
  total: number;
  idle: number;
  waiting: number;
}

export type MessageKind = 'accepted' | 'delivered' | 'read';

/** A live value read at scrape time, never on the hot path. */
export type GaugeSource = 'ws_connections' | 'sse_streams' | 'offline_queue_depth';

/**
 * How old the offline-queue count a scrape reports may be, on Postgres (Prometheus scrapes every
 * 15 s by default). The embedded database keeps the depth in memory instead (MessagingService):
 * there a count per scrape under load held up every query behind it (docs/performance.md "Metrics").
 */
export const QUEUE_DEPTH_MAX_AGE_MS = 15_000;

/** A reader that answers from its last value while it is younger than `maxAgeMs`, and shares a read in flight. */
function reuseFor(maxAgeMs: number, read: () => number | Promise<number>): () => Promise<number> {
  let last: { value: number; at: number } | null = null;
  let pending: Promise<number> | null = null;
  return () => {
    if (last && performance.now() - last.at < maxAgeMs) return Promise.resolve(last.value);
    pending ??= Promise.resolve(read()).then(
      (value) => {
        pending = null;
        if (!Number.isNaN(value)) last = { value, at: performance.now() };
        return value;
      },
      (error: unknown) => {
        pending = null;
        throw error;
      },
    );
    return pending;
  };
}

/** The part of a pg.Pool that watchPool() reads and wraps. */
export interface WatchablePool {
  connect: (...args: never[]) => unknown;
  totalCount: number;
  idleCount: number;
  waitingCount: number;
  options?: { max?: number };
}

/** Frames that did not decode, or a type outside the protocol (should not happen for server frames). */
const INVALID = 'invalid';
const OTHER = 'other';
/** serverFrame() writes `{"type":"<type>",…`, and an error frame `{"type":"error","code":"<code>",…`. */
const TYPE_PREFIX = '{"type":"';
const ERROR_PREFIX = '{"type":"error","code":"';

/** One labelled value of a hot counter: the hot path adds to `n`, a scrape copies it out. */
type Cell = { n: number };

/**
 * A counter whose labelled values are plain numbers, written into the prom-client Counter only
 * when scraped: an increment is `cell.n++` (prom-client's own inc builds a label hash and checks
 * the labels on every call). Each cell is exported from the start, at 0, so a rate() sees its
 * first increment.
 */
function cellCounter<L extends string>(config: CounterConfiguration<L>): (labels: Partial<Record<L, string>>) => Cell {
  const cells: Array<{ labels: Partial<Record<L, string>>; cell: Cell }> = [];
  new Counter<L>({
    ...config,
    collect() {
      this.reset();
      for (const { labels, cell } of cells) this.inc(labels, cell.n);
    },
  });
  return (labels) => {
    const cell = { n: 0 };
    cells.push({ labels, cell });
    return cell;
  };
}

/**
 * The broker's Prometheus series (docs/self-hosting.md "Metrics"), in a registry of its own (one per
 * broker, so several in one process do not mix). Every labelled child is created up front over a
 * closed set of values (frame types, error codes, message kinds): a frame costs a map lookup and
 * a number increment, nothing async. Labels carry no member, name, key or id; the mesh id only
 * in claudemesh_mesh_sessions and claudemesh_refusals_total, bounded by MESH_LABEL_LIMIT.
 * When metrics are off nothing is registered or collected and every method returns at once.
 */
export class BrokerMetrics implements FrameMeter {
  readonly enabled: boolean;
  readonly registry = new Registry();
  private readonly framesIn = new Map<string, Cell>();
  private readonly framesOut = new Map<string, Cell>();
  private readonly errors = new Map<string, Cell>();
  private readonly messages = new Map<MessageKind, Cell>();
  private readonly sources = new Map<GaugeSource, () => number | Promise<number>>();
  private readonly commitBatch: Histogram | null = null;
  private readonly commitSeconds: Histogram | null = null;
  private readonly refusals: Counter<'code' | 'mesh'> | null = null;
  /** Meshes that have a label of their own (MESH_LABEL_LIMIT), in the order they were first seen. */
  private readonly meshLabels = new Set<string>();
  private meshSessions: () => ReadonlyMap<string, number> = () => new Map();
  private pool: () => PoolCounts | null = () => null;
  private readonly acquireSeconds: Histogram | null = null;
  private readonly poolWaits: Counter | null = null;
  private readonly handoffSeconds: Histogram | null = null;

  constructor(settings: Pick<MetricsSettings, 'enabled'>) {
    this.enabled = settings.enabled;
    if (!this.enabled) return;
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });

    const frames = cellCounter({ name: 'claudemesh_frames_total', help: 'WebSocket frames, by direction (in: from clients, out: to clients) and frame type; type "invalid" is a client frame that did not decode', labelNames: ['direction', 'type'] as const, registers });
    for (const type of [...Object.keys(CLIENT_FRAME_SCHEMAS), INVALID]) this.framesIn.set(type, frames({ direction: 'in', type }));
    for (const type of [...Object.keys(SERVER_FRAME_SCHEMAS), OTHER]) this.framesOut.set(type, frames({ direction: 'out', type }));

    const errors = cellCounter({ name: 'claudemesh_errors_total', help: 'Errors answered, by protocol error code: WebSocket error frames and REST error responses', labelNames: ['code'] as const, registers });
    for (const code of [...Object.keys(ERROR_CODES), OTHER]) this.errors.set(code, errors({ code }));

    const messages = cellCounter({ name: 'claudemesh_messages_total', help: 'Direct and group messages (WebSocket send frames): accepted (stored, not a duplicate), and deliveries that became delivered or read', labelNames: ['kind'] as const, registers });
    for (const kind of ['accepted', 'delivered', 'read'] as const) this.messages.set(kind, messages({ kind }));

    this.commitBatch = new Histogram({ name: 'claudemesh_topic_commit_batch_size', help: 'Topic posts written by one group commit (one transaction)', buckets: [1, 2, 4, 8, 16, 32, 64, 128], registers });
    this.commitSeconds = new Histogram({ name: 'claudemesh_topic_commit_seconds', help: 'Duration of one group commit of topic posts, from its start to its commit or failure', buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10], registers });

    this.refusals = new Counter({ name: 'claudemesh_refusals_total', help: `Work a limit refused, by error code (${REFUSAL_CODES.join(', ')}) and mesh id ("${NO_MESH}" before a mesh is known; past ${MESH_LABEL_LIMIT} meshes, "${OTHER_MESHES}")`, labelNames: ['code', 'mesh'] as const, registers });
    for (const code of REFUSAL_CODES) this.refusals.inc({ code, mesh: NO_MESH }, 0);

    const readSessions = () => this.meshSessions();
    const readPool = () => this.pool();
    new Gauge({
      name: 'claudemesh_mesh_sessions',
      help: `Authenticated WebSocket sessions on this node, by mesh id (past ${MESH_LABEL_LIMIT} meshes, the smallest are summed as "${OTHER_MESHES}")`,
      labelNames: ['mesh'] as const,
      registers,
      collect() {
        this.reset();
        const counts = [...readSessions()].sort((a, b) => b[1] - a[1]);
        let other = 0;
        counts.forEach(([mesh, n], i) => {
          if (i < MESH_LABEL_LIMIT) this.set({ mesh }, n);
          else other += n;
        });
        if (other > 0) this.set({ mesh: OTHER_MESHES }, other);
      },
    });
    new Gauge({
      name: 'claudemesh_db_pool_connections',
      help: 'Database pool connections, by state (busy: lent to a query or transaction; idle: open and free)',
      labelNames: ['state'] as const,
      registers,
      collect() {
        const pool = readPool();
        if (!pool) return;
        this.set({ state: 'busy' }, pool.total - pool.idle);
        this.set({ state: 'idle' }, pool.idle);
      },
    });
    new Gauge({
      name: 'claudemesh_db_pool_waiting',
      help: 'Queries waiting for a database pool connection right now',
      registers,
      collect() {
        const pool = readPool();
        if (pool) this.set(pool.waiting);
      },
    });
    this.acquireSeconds = new Histogram({ name: 'claudemesh_db_pool_acquire_seconds', help: 'Time to get a connection from the database pool (near 0 unless the pool is exhausted)', buckets: [0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30], registers });
    this.poolWaits = new Counter({ name: 'claudemesh_db_pool_waits_total', help: 'Pool acquisitions that found every connection busy and had to wait', registers });
    this.handoffSeconds = handoffHistogram(registers);

    const sources = this.sources;
    const gauge = (name: string, help: string, source: GaugeSource) =>
      new Gauge({
        name,
        help,
        registers,
        async collect() {
          const read = sources.get(source);
          if (read) this.set(await read());
        },
      });
    gauge('claudemesh_ws_connections', 'Authenticated WebSocket sessions on this node (hello completed)', 'ws_connections');
    gauge('claudemesh_sse_streams', 'Open SSE topic streams on this node', 'sse_streams');
    gauge('claudemesh_offline_queue_depth', `Deliveries waiting in the offline queue (state queued), over all members (Postgres: counted at most every ${QUEUE_DEPTH_MAX_AGE_MS / 1000} s; embedded: kept in memory)`, 'offline_queue_depth');
  }

  /** Where a gauge reads its value at scrape time. */
  source(name: GaugeSource, read: () => number | Promise<number>, opts: { maxAgeMs?: number } = {}): void {
    if (this.enabled) this.sources.set(name, opts.maxAgeMs ? reuseFor(opts.maxAgeMs, read) : read);
  }

  /** A frame read from a client: its decoded type, or undefined when it did not decode. */
  frameIn(type: string | undefined): void {
    if (!this.enabled) return;
    (this.framesIn.get(type ?? INVALID) ?? this.framesIn.get(INVALID)!).n++;
  }

  /**
   * A frame written to a client, as serverFrame() encoded it; an error frame counts its code too,
   * and a refusal (REFUSAL_CODES) its mesh (the connection's, once hello completed).
   */
  frameOut(frame: string, meshId?: string): void {
    if (!this.enabled) return;
    const type = frame.startsWith(TYPE_PREFIX) ? frame.slice(TYPE_PREFIX.length, frame.indexOf('"', TYPE_PREFIX.length)) : OTHER;
    (this.framesOut.get(type) ?? this.framesOut.get(OTHER)!).n++;
    if (type === 'error') this.error(frame.startsWith(ERROR_PREFIX) ? frame.slice(ERROR_PREFIX.length, frame.indexOf('"', ERROR_PREFIX.length)) : OTHER, meshId);
  }

  /** A FrameMeter for one connection: its refusals carry the mesh `meshOf()` names when they happen. */
  meterFor(meshOf: () => string | undefined): FrameMeter {
    return { frameOut: (frame) => this.frameOut(frame, meshOf()) };
  }

  /** An error answered (a WebSocket error frame, or a REST error response), with the caller's mesh when known. */
  error(code: string, meshId?: string): void {
    if (!this.enabled) return;
    (this.errors.get(code) ?? this.errors.get(OTHER)!).n++;
    if (isRefusal(code)) this.refusal(code, meshId);
  }

  /** A limit refused work (also counted by error(), for errors answered; call this for refusals sent otherwise). */
  refusal(code: RefusalCode, meshId?: string): void {
    this.refusals?.labels({ code, mesh: this.meshLabel(meshId) }).inc();
  }

  /** Where claudemesh_mesh_sessions reads its counts at scrape time (mesh id → sessions). */
  sessionsBy(read: () => ReadonlyMap<string, number>): void {
    if (this.enabled) this.meshSessions = read;
  }

  /**
   * Watches a pg.Pool: connections by state and waiting queries at scrape time, and every
   * acquisition timed (claudemesh_db_pool_acquire_seconds; claudemesh_db_pool_waits_total when all
   * connections were busy). Works for both databases: the embedded one is reached through pg too.
   */
  watchPool(pool: WatchablePool | undefined): void {
    if (!this.enabled || !pool || typeof pool.connect !== 'function') return;
    const max = pool.options?.max ?? Number.POSITIVE_INFINITY;
    this.pool = () => ({ total: pool.totalCount, idle: pool.idleCount, waiting: pool.waitingCount });
    const acquire = this.acquireSeconds!;
    const waits = this.poolWaits!;
    const connect = pool.connect.bind(pool) as (callback?: (...args: unknown[]) => void) => unknown;
    // pg.Pool hands an idle client over on the next tick: acquisitions not yet answered still
    // count against the free connections (idle, or not yet opened up to max).
    let pending = 0;
    pool.connect = ((callback?: (...args: unknown[]) => void) => {
      const start = performance.now();
      if (pending >= pool.idleCount + (max - pool.totalCount)) waits.inc();
      pending++;
      const done = () => {
        pending--;
        acquire.observe((performance.now() - start) / 1000);
      };
      if (typeof callback === 'function') {
        return connect((...args: unknown[]) => {
          done();
          callback(...args);
        });
      }
      return (connect() as Promise<unknown>).then(
        (client) => {
          done();
          return client;
        },
        (error: unknown) => {
          done();
          throw error;
        },
      );
    }) as WatchablePool['connect'];
  }

  private meshLabel(meshId: string | undefined): string {
    if (meshId === undefined) return NO_MESH;
    if (this.meshLabels.has(meshId)) return meshId;
    if (this.meshLabels.size >= MESH_LABEL_LIMIT) return OTHER_MESHES;
    this.meshLabels.add(meshId);
    return meshId;
  }

  message(kind: MessageKind, n = 1): void {
    if (this.enabled && n > 0) this.messages.get(kind)!.n += n;
  }

  /** A delivery confirmed `seconds` after its message was accepted (end-to-end handoff). */
  handoff(seconds: number): void {
    this.handoffSeconds?.observe(seconds);
  }

  /** One group commit of topic posts: how many, and how long from start to commit (or failure). */
  topicCommit(size: number, seconds: number): void {
    this.commitBatch?.observe(size);
    this.commitSeconds?.observe(seconds);
  }
}

/** Accepted → delivered confirmation, per delivery (the analytics histogram's buckets, in seconds). */
function handoffHistogram(registers: Registry[]): Histogram {
  return new Histogram({
    name: 'claudemesh_handoff_seconds',
    help: 'End-to-end handoff of direct and group messages: from the broker accepting a message to its recipient confirming delivery, per delivery',
    buckets: HANDOFF_BUCKETS_MS.map((ms) => ms / 1000),
    registers,
  });
}
