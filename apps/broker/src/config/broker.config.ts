import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { DEFAULT_EPOCH_ROTATION, type EpochRotationPolicy } from '../epochs/epoch-use.js';
import { LIMITS_ENV, limitSettingsOf, type LimitSettings } from '../limits/limits.config.js';
import type { MetricsSettings } from '../metrics/broker-metrics.js';
import type { AnalyticsSettings } from '../analytics/analytics.recorder.js';
import { MAIL_ENV, mailSettingsOf, type MailSettings } from '../mail/mail.config.js';
import { REST_LIMITS_ENV, restLimitsOf, type RestLimits } from './rest-limits.config.js';

/** The broker's whole configuration: one zod schema over the environment. */
export const BrokerEnv = z.object({
  PORT: z.coerce.number().int().min(0).max(65535).default(7900),
  HOST: z.string().min(1).default('127.0.0.1'),
  CLAUDEMESH_HOME: z.string().min(1).optional(),
  DATA_DIR: z.string().min(1).optional(),
  DATABASE_URL: z.string().regex(/^postgres(ql)?:\/\//, 'expected a postgres:// URL').optional(),
  PUBLIC_URL: z.string().url().optional(),
  LOG_LEVEL: z.enum(['error', 'warn', 'log', 'debug', 'verbose']).default('warn'),
  /** `json`: one JSON object per line; `pretty`: one readable line. Unset: pretty on a terminal, json otherwise. */
  LOG_FORMAT: z.enum(['json', 'pretty']).optional(),
  ADMIN_TOKEN: z.string().min(16).optional(),
  /** Name of the mesh created on first start; `off` disables the bootstrap. */
  BOOTSTRAP_MESH: z.string().min(1).default('default'),
  /** `on`: the first start also issues and prints a v1 link, which carries the mesh key itself. */
  BOOTSTRAP_V1_LINK: z.enum(['on', 'off']).default('off'),
  NATS_URL: z.string().optional(),
  /** The web app's built assets (apps/web/dist); the broker serves them at `/` when present. */
  CLAUDEMESH_WEB_DIR: z.string().min(1).optional(),
  /** Postgres `shared_buffers` of the embedded database, e.g. `32MB`; unset keeps PGlite's 128 MB. */
  CLAUDEMESH_EMBEDDED_SHARED_BUFFERS: z.string().regex(/^[1-9][0-9]*(kB|MB|GB)$/, 'expected a size such as 32MB').optional(),
  /** Scheduled key rotation (docs/protocol.md §5.6): messages per epoch and epoch age; 0 turns one off. */
  CLAUDEMESH_EPOCH_ROTATE_MESSAGES: z.coerce.number().int().min(0).max(1_000_000_000).default(DEFAULT_EPOCH_ROTATION.messages),
  CLAUDEMESH_EPOCH_ROTATE_AFTER_MS: z.coerce.number().int().min(0).max(10 * 365 * 24 * 3600_000).default(DEFAULT_EPOCH_ROTATION.afterMs),
  /** Web Push of mentions and replies (docs/web.md "Web Push"): `off` refuses subscriptions and sends nothing. */
  CLAUDEMESH_PUSH: z.enum(['on', 'off']).default('on'),
  /** The VAPID keypair (base64url: the uncompressed P-256 point, the 32-byte scalar); unset: DATA_DIR/vapid.json. */
  CLAUDEMESH_VAPID_PUBLIC_KEY: z.string().regex(/^[A-Za-z0-9_-]{87}$/, 'expected base64url of a 65-byte uncompressed P-256 point').optional(),
  CLAUDEMESH_VAPID_PRIVATE_KEY: z.string().regex(/^[A-Za-z0-9_-]{43}$/, 'expected base64url of a 32-byte P-256 private key').optional(),
  /** Who the push services may contact: a `mailto:` or `https:` URL; default PUBLIC_URL (https) or mailto:admin@<host>. */
  CLAUDEMESH_VAPID_SUBJECT: z.string().regex(/^(mailto:|https:\/\/)\S+$/, 'expected a mailto: or https: URL').optional(),
  /** `on` lets a subscription's endpoint be plain http to a loopback host (tests with a local push service). */
  CLAUDEMESH_PUSH_HTTP_LOOPBACK: z.enum(['on', 'off']).default('off'),
  /** Prometheus `GET /metrics` (docs/self-hosting.md "Metrics"): `off` answers 404 and collects nothing. */
  CLAUDEMESH_METRICS: z.enum(['on', 'off']).default('on'),
  /** Set: `/metrics` needs `Authorization: Bearer <token>`; unset: it answers loopback clients only. */
  CLAUDEMESH_METRICS_TOKEN: z.string().min(16).regex(/^\S+$/, 'expected a token without spaces').optional(),
  /** Per-mesh analytics (docs/self-hosting.md "Analytics"): days of hourly rollups kept; 0 turns analytics off. */
  CLAUDEMESH_ANALYTICS_RETENTION_DAYS: z.coerce.number().int().min(0).max(3650).default(90),
  /** How often the broker adds its in-memory analytics counts to the rollup tables. */
  CLAUDEMESH_ANALYTICS_FLUSH_MS: z.coerce.number().int().min(100).max(3_600_000).default(10_000),
  ...MAIL_ENV,
  ...REST_LIMITS_ENV,
  ...LIMITS_ENV,
});

export interface BrokerConfig {
  port: number;
  host: string;
  home: string;
  dataDir: string;
  databaseUrl: string | undefined;
  publicUrl: string | undefined;
  logLevel: z.output<typeof BrokerEnv>['LOG_LEVEL'];
  /** Unset: pretty when stdout is a terminal, json otherwise (logging/broker-logger.ts). */
  logFormat: 'json' | 'pretty' | undefined;
  adminToken: string | undefined;
  bootstrapMesh: string | null;
  /** Print a key-bearing v1 link on the first start too (off by default: logs keep what is printed). */
  bootstrapV1Link: boolean;
  migrationsDir: string;
  /** The web app's built assets; a directory without index.html leaves `/` to the status page. */
  webDir: string;
  /** shared_buffers of the embedded database (unset: PGlite's default). */
  embeddedSharedBuffers: string | undefined;
  /** Email invites (docs/protocol.md §9c); absent means no mail. */
  mail?: MailSettings;
  /** HTTP timeouts and connection caps, per-address limits, SSE and search limits (rest-limits.config.ts). */
  rest: RestLimits;
  /** WebSocket and send-path limits (docs/protocol.md §1.2). */
  limits: LimitSettings;
  /** When an e2e topic's key epoch must be rotated before the next message (epoch-use.ts). */
  epochRotation: EpochRotationPolicy;
  /** Web Push (push/push.service.ts). */
  push: PushSettings;
  /** Prometheus metrics (metrics/metrics.controller.ts). */
  metrics: MetricsSettings;
  /** Per-mesh analytics (analytics/analytics.recorder.ts). */
  analytics: AnalyticsSettings;
}

export interface PushSettings {
  enabled: boolean;
  /** Both or neither: unset, the broker keeps a generated pair in DATA_DIR/vapid.json. */
  vapidPublicKey: string | undefined;
  vapidPrivateKey: string | undefined;
  vapidSubject: string | undefined;
  httpLoopback: boolean;
}

export const BROKER_CONFIG = Symbol('BROKER_CONFIG');

/** apps/web/dist beside this package (from apps/broker/dist/config/ or apps/broker/src/config/). */
const DEFAULT_WEB_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'web', 'dist');

export function loadBrokerConfig(env: NodeJS.ProcessEnv, migrationsDir: string): BrokerConfig {
  const parsed = BrokerEnv.safeParse(env);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`);
    throw new Error(`invalid broker configuration:\n${lines.join('\n')}`);
  }
  const e = parsed.data;
  if ((e.CLAUDEMESH_VAPID_PUBLIC_KEY === undefined) !== (e.CLAUDEMESH_VAPID_PRIVATE_KEY === undefined)) {
    throw new Error('invalid broker configuration:\n  CLAUDEMESH_VAPID_PUBLIC_KEY and CLAUDEMESH_VAPID_PRIVATE_KEY: set both, or neither (the broker then keeps a generated pair in DATA_DIR/vapid.json)');
  }
  const home = resolve(e.CLAUDEMESH_HOME ?? join(homedir(), '.claudemesh'));
  return {
    port: e.PORT,
    host: e.HOST,
    home,
    dataDir: resolve(e.DATA_DIR ?? join(home, 'broker')),
    databaseUrl: e.DATABASE_URL,
    publicUrl: e.PUBLIC_URL,
    logLevel: e.LOG_LEVEL,
    logFormat: e.LOG_FORMAT,
    adminToken: e.ADMIN_TOKEN,
    bootstrapMesh: e.BOOTSTRAP_MESH === 'off' ? null : e.BOOTSTRAP_MESH,
    bootstrapV1Link: e.BOOTSTRAP_V1_LINK === 'on',
    migrationsDir,
    webDir: resolve(e.CLAUDEMESH_WEB_DIR ?? DEFAULT_WEB_DIR),
    embeddedSharedBuffers: e.CLAUDEMESH_EMBEDDED_SHARED_BUFFERS,
    mail: mailSettingsOf(e),
    rest: restLimitsOf(e),
    limits: limitSettingsOf(e),
    epochRotation: { messages: e.CLAUDEMESH_EPOCH_ROTATE_MESSAGES, afterMs: e.CLAUDEMESH_EPOCH_ROTATE_AFTER_MS },
    push: {
      enabled: e.CLAUDEMESH_PUSH === 'on',
      vapidPublicKey: e.CLAUDEMESH_VAPID_PUBLIC_KEY,
      vapidPrivateKey: e.CLAUDEMESH_VAPID_PRIVATE_KEY,
      vapidSubject: e.CLAUDEMESH_VAPID_SUBJECT,
      httpLoopback: e.CLAUDEMESH_PUSH_HTTP_LOOPBACK === 'on',
    },
    metrics: { enabled: e.CLAUDEMESH_METRICS === 'on', token: e.CLAUDEMESH_METRICS_TOKEN },
    analytics: { retentionDays: e.CLAUDEMESH_ANALYTICS_RETENTION_DAYS, flushMs: e.CLAUDEMESH_ANALYTICS_FLUSH_MS },
  };
}

/** The URL peers use: PUBLIC_URL when set, else the bound address. */
export function publicUrlOf(config: BrokerConfig, boundPort: number): string {
  if (config.publicUrl) return config.publicUrl.replace(/\/$/, '');
  const host = config.host === '0.0.0.0' || config.host === '::' ? '127.0.0.1' : config.host;
  return `http://${host.includes(':') ? `[${host}]` : host}:${boundPort}`;
}
