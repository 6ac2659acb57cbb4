/**
 * The self-hosting stack (Dockerfile, docker-compose.yml, .env.example, docs/self-hosting.md) checked
 * against the code without a Docker engine: the compose file validates against the Compose schema
 * and wires what the docs say; .env.example names exactly the broker's settings, with their
 * defaults; and the image's own commands run natively from the repository root (the image's /app
 * mirrors the repository): the broker as the Dockerfile's CMD with the environment compose gives it,
 * on a fresh Postgres database, then the HEALTHCHECK, the postgres service's pg_isready, the
 * `claudemesh` launcher the image puts on PATH (an admin verb included), and a clean SIGTERM stop.
 */
import { Ajv } from 'ajv';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { waitFor } from '../../../test/helpers/broker.js';
import { createTestDatabase, pgAvailable, type TestDatabase } from '../../../test/helpers/db.js';
import { freePort } from '../../../tools/bench/src/broker-process.js';
import { BrokerEnv } from '../src/config/broker.config.js';
import { REST_LIMITS_ENV, SEARCH_CONCURRENCY } from '../src/config/rest-limits.config.js';
import { LIMITS_ENV } from '../src/limits/limits.config.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const read = (file: string): string => readFileSync(join(ROOT, file), 'utf8');
/** Where the Dockerfile puts the repository. */
const APP = '/app';

// ---- the Dockerfile, as instructions of its last (runtime) stage ----

interface Instruction {
  op: string;
  args: string;
}

function dockerfileStages(text: string): Instruction[][] {
  const joined = text.replace(/\\\r?\n/g, ' ');
  const stages: Instruction[][] = [];
  for (const raw of joined.split(/\r?\n/)) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const m = /^([A-Za-z]+)\s+(.*)$/.exec(line);
    if (!m) continue;
    const op = m[1]!.toUpperCase();
    if (op === 'FROM') stages.push([]);
    stages.at(-1)?.push({ op, args: m[2]!.trim() });
  }
  return stages;
}

const runtime = dockerfileStages(read('Dockerfile')).at(-1)!;
const one = (op: string): string => {
  const found = runtime.filter((i) => i.op === op);
  expect(found, `one ${op} in the runtime stage`).toHaveLength(1);
  return found[0]!.args;
};
/** ENV key=value pairs (values without spaces or quotes, as the Dockerfile writes them). */
const imageEnv = (): Record<string, string> =>
  Object.fromEntries(runtime.filter((i) => i.op === 'ENV').flatMap((i) => i.args.split(/\s+/).map((kv) => kv.split('=') as [string, string])));
const cmd = (): string[] => JSON.parse(one('CMD')) as string[];
const healthcheck = (): string[] => JSON.parse(/\bCMD\s+(\[.*\])$/.exec(one('HEALTHCHECK'))![1]!) as string[];
/** The link target of `/usr/local/bin/claudemesh`. */
const launcher = (): string => /ln -s (\S+) \/usr\/local\/bin\/claudemesh\b/.exec(runtime.filter((i) => i.op === 'RUN').map((i) => i.args).join('\n'))![1]!;
/** A path in the image, as the same path in this checkout. */
const inRepo = (path: string): string => (path.startsWith(`${APP}/`) ? join(ROOT, path.slice(APP.length + 1)) : join(ROOT, path));

// ---- .env.example and docker-compose.yml ----

/** `NAME=value` (set) and `#NAME=value` (commented out: the default applies); prose comments are `# …`. */
function envExample(): { set: Record<string, string>; listed: Record<string, string> } {
  const set: Record<string, string> = {};
  const listed: Record<string, string> = {};
  for (const line of read('.env.example').split('\n')) {
    const m = /^(#?)([A-Z][A-Z0-9_]*)=(.*)$/.exec(line);
    if (!m) continue;
    listed[m[2]!] = m[3]!;
    if (!m[1]) set[m[2]!] = m[3]!;
  }
  return { set, listed };
}

/** Variables only docker-compose.yml reads (the broker's schema does not know them). */
const COMPOSE_ONLY = ['POSTGRES_PASSWORD', 'CLAUDEMESH_PORT', 'GRAFANA_PORT'];
/** Settings the image sets itself (ENV), so their `#NAME=value` line shows the image's value. */
const IMAGE_SET = ['HOST', 'PORT', 'DATA_DIR', 'CLAUDEMESH_HOME'];

/** Compose's `${VAR}`, `${VAR:-default}` and `${VAR:?error}` over the given variables. */
function interpolate(value: string, vars: Record<string, string>): string {
  return value.replace(/\$\{([A-Z0-9_]+)(?::([-?])([^}]*))?\}/g, (_, name: string, kind: string | undefined, rest: string | undefined) => {
    const v = vars[name];
    if (v !== undefined && v !== '') return v;
    if (kind === '?') throw new Error(`${name}: ${rest}`);
    return kind === '-' ? (rest ?? '') : '';
  });
}

interface Service {
  image?: string;
  build?: unknown;
  env_file?: string | string[];
  environment?: Record<string, string>;
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test: string[] };
  profiles?: string[];
  command?: string[];
  volumes?: string[];
  ports?: string[];
}
const compose = parseYaml(read('docker-compose.yml')) as { services: Record<string, Service & { secrets?: string[] }>; volumes: Record<string, unknown>; secrets?: Record<string, { environment?: string }> };
const services = compose.services;

const launcherDirs: string[] = [];
afterAll(() => {
  for (const d of launcherDirs) rmSync(d, { recursive: true, force: true });
});

const run = (file: string, args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; stdout: string; stderr: string }> =>
  new Promise((resolve) => {
    execFile(file, args, { env, cwd: ROOT, timeout: 120_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr });
    });
  });

describe('docker-compose.yml', () => {
  it('validates against the Compose schema (the one dclint ships)', () => {
    // Its $schema names draft-07 by an https URL ajv does not know by that name; draft-07 is ajv's default.
    const { $schema, ...schema } = JSON.parse(readFileSync(join(ROOT, 'node_modules', 'dclint', 'schemas', 'compose.schema.json'), 'utf8')) as { $schema: string };
    expect($schema).toMatch(/draft-07/);
    const validate = new Ajv({ allErrors: true, strict: false }).compile(schema);
    const valid = validate(compose);
    expect(validate.errors ?? []).toEqual([]);
    expect(valid).toBe(true);
    // The schema does reject a mistake (a misspelt condition, an unknown key).
    const broken = structuredClone(compose) as unknown as { services: Record<string, Record<string, unknown>> };
    broken.services['broker']!['depends_on'] = { postgres: { condition: 'service_healty' } };
    broken.services['postgres']!['healthchek'] = {};
    expect(validate(broken)).toBe(false);
  });

  it('starts the broker after Postgres is healthy, with the image\'s healthcheck, and keeps state in named volumes', () => {
    const { broker, postgres } = services;
    expect(broker?.build).toBe('.');
    expect(broker?.env_file).toBe('.env');
    expect(broker?.depends_on).toEqual({ postgres: { condition: 'service_healthy' } });
    expect(broker?.healthcheck?.test).toEqual(['CMD', ...healthcheck()]);
    expect(broker?.volumes).toEqual([`broker-data:${imageEnv()['DATA_DIR']}`]);
    expect(postgres?.image).toBe('postgres:16');
    expect(postgres?.healthcheck?.test[0]).toBe('CMD-SHELL');
    expect(postgres?.healthcheck?.test[1]).toMatch(/^pg_isready -h 127\.0\.0\.1\b/);
    expect(postgres?.volumes).toEqual(['postgres-data:/var/lib/postgresql/data']);
    expect(Object.keys(compose.volumes)).toEqual(expect.arrayContaining(['broker-data', 'postgres-data']));
    // The broker's database is the postgres service's, with its user, password and database.
    const pgEnv = postgres!.environment!;
    const url = new URL(interpolate(broker!.environment!['DATABASE_URL']!, { POSTGRES_PASSWORD: 'pw' }));
    expect([url.protocol, url.username, url.password, url.hostname, url.port, url.pathname]).toEqual(['postgres:', pgEnv['POSTGRES_USER'], 'pw', 'postgres', '5432', `/${pgEnv['POSTGRES_DB']}`]);
  });

  it('has the plugins profile running the plugin host on a mounted config, and the nats profile with JetStream', () => {
    const { plugins, nats } = services;
    expect(plugins?.profiles).toEqual(['plugins']);
    expect(plugins?.command).toEqual(['claudemesh', 'plugin', 'run', '/config/plugins.yaml']);
    expect(plugins?.volumes).toContain('./plugins-config:/config:ro');
    expect(plugins?.environment?.['NATS_URL']).toBe('${NATS_URL:-}');
    expect(nats?.profiles).toEqual(['nats']);
    expect(nats?.image).toBe('nats:2');
    expect(nats?.command).toContain('-js');
    // Without a profile only the broker and postgres start.
    expect(Object.entries(services).filter(([, s]) => !s.profiles).map(([name]) => name).sort()).toEqual(['broker', 'postgres']);
  });

  it('has the monitoring profile: Prometheus scraping the broker with the metrics token, Grafana provisioned with it and the dashboard', () => {
    const { prometheus, grafana } = services;
    expect(prometheus?.profiles).toEqual(['monitoring']);
    expect(grafana?.profiles).toEqual(['monitoring']);
    // Prometheus: its config is the repository's, its token the broker's CLAUDEMESH_METRICS_TOKEN, as a secret file.
    const configMount = prometheus!.volumes!.find((v) => v.endsWith(':/etc/prometheus/prometheus.yml:ro'))!;
    const config = parseYaml(read(configMount.split(':')[0]!)) as { scrape_configs: Array<{ metrics_path: string; authorization: { type: string; credentials_file: string }; static_configs: Array<{ targets: string[] }> }> };
    const [job] = config.scrape_configs;
    expect(job!.metrics_path).toBe('/metrics');
    expect(job!.authorization).toEqual({ type: 'Bearer', credentials_file: '/run/secrets/metrics_token' });
    expect(prometheus!.secrets).toEqual(['metrics_token']);
    expect(compose.secrets?.['metrics_token']?.environment).toBe('CLAUDEMESH_METRICS_TOKEN');
    expect(Object.keys(BrokerEnv.shape)).toContain('CLAUDEMESH_METRICS_TOKEN');
    // The target is the broker service on the port its healthcheck and the image use.
    expect(job!.static_configs[0]!.targets).toEqual([`broker:${imageEnv()['PORT']}`]);
    expect(prometheus!.command).toContain('--config.file=/etc/prometheus/prometheus.yml');
    // Grafana: provisioning from the repository, Prometheus as the default data source, the dashboard file mounted where the provider reads.
    const provisioning = grafana!.volumes!.find((v) => v.endsWith(':/etc/grafana/provisioning:ro'))!.split(':')[0]!;
    const datasources = parseYaml(read(join(provisioning, 'datasources', 'prometheus.yml'))) as { datasources: Array<{ type: string; url: string; isDefault: boolean }> };
    expect(datasources.datasources[0]).toMatchObject({ type: 'prometheus', url: 'http://prometheus:9090', isDefault: true });
    const providers = parseYaml(read(join(provisioning, 'dashboards', 'claudemesh.yml'))) as { providers: Array<{ options: { path: string } }> };
    const dashboardMount = grafana!.volumes!.find((v) => v.startsWith('./docs/grafana/claudemesh.json:'))!;
    expect(dashboardMount.split(':')[1]).toBe(`${providers.providers[0]!.options.path}/claudemesh.json`);
    // The dashboard asks for a Prometheus data source: the provisioned one is picked.
    const dashboard = JSON.parse(read('docs/grafana/claudemesh.json')) as { templating: { list: Array<{ name: string; type: string; query: string }> } };
    expect(dashboard.templating.list.find((v) => v.type === 'datasource')).toMatchObject({ query: 'prometheus' });
    expect(grafana!.ports).toEqual(['127.0.0.1:${GRAFANA_PORT:-3000}:3000']);
  });
});

describe('Dockerfile', () => {
  it('runs the broker as a non-root user on port 7900 with its state in the /data volume', () => {
    expect(one('USER')).toBe('node');
    expect(one('EXPOSE')).toBe('7900');
    expect(JSON.parse(one('VOLUME'))).toEqual(['/data']);
    expect(imageEnv()).toMatchObject({ HOST: '0.0.0.0', PORT: '7900', DATA_DIR: '/data', CLAUDEMESH_HOME: '/data/home' });
    expect(cmd()).toEqual(['node', 'apps/broker/dist/main.js']);
    expect(launcher()).toBe(`${APP}/apps/cli/bin/claudemesh.js`);
    // Each image setting is one the broker reads, but for the CLI's (no daemon) and Node's own.
    expect(imageEnv()).toMatchObject({ CLAUDEMESH_DAEMON: 'off', NODE_ENV: 'production' });
    for (const key of Object.keys(imageEnv()).filter((k) => !['NODE_ENV', 'CLAUDEMESH_DAEMON'].includes(k))) expect(BrokerEnv.shape).toHaveProperty(key);
    // The runtime stage installs nothing: its node_modules come from the production-only stage.
    expect(runtime.filter((i) => i.op === 'RUN' && /\bnpm (ci|install|i)\b/.test(i.args))).toEqual([]);
    expect(read('Dockerfile')).toMatch(/npm ci --omit=dev/);
  });
});

describe('Dockerfile against the checkout', () => {
  const stages = dockerfileStages(read('Dockerfile'));
  const workspaces = (JSON.parse(read('package.json')) as { workspaces: string[] }).workspaces;

  it('gives both install stages every workspace\'s manifest (npm ci checks the lockfile against all of them)', () => {
    for (const stage of stages.slice(0, 2)) {
      const copied = stage.filter((i) => i.op === 'COPY').map((i) => i.args);
      for (const ws of workspaces) expect(copied.some((c) => c.includes(`${ws}/package.json`)), `${ws}/package.json`).toBe(true);
    }
  });

  it('copies into the runtime stage only paths that the build produces', () => {
    // `npm run build` ran before this suite (npm test builds first), so each source exists here.
    const sources = runtime.filter((i) => i.op === 'COPY' && i.args.startsWith('--from=build ')).map((i) => i.args.split(/\s+/)[1]!);
    expect(sources.length).toBeGreaterThan(10);
    for (const src of sources) expect(existsSync(inRepo(src)), src).toBe(true);
    // What the broker, the CLI and the plugin host load: compiled libraries, migrations, the web app, the bundle, each plugin.
    const plugins = workspaces.filter((w) => w.startsWith('plugins/'));
    for (const need of ['libs/core/dist', 'libs/crypto/dist', 'libs/plugin/dist', 'libs/gateway/dist', 'apps/broker/dist', 'migrations', 'apps/web/dist', 'apps/cli/dist-bundle', 'apps/cli/bin', ...plugins.map((p) => `${p}/dist`)]) {
      expect(sources, need).toContain(`${APP}/${need}`);
    }
  });

  it('puts a `claudemesh` on PATH that runs (--version) and finds the plugin host and plugins (plugin list)', async () => {
    const bin = mkdtempSync(join(tmpdir(), 'cmh-selfhost-bin-'));
    launcherDirs.push(bin);
    symlinkSync(inRepo(launcher()), join(bin, 'claudemesh'));
    const env = { PATH: [bin, dirname(process.execPath), process.env['PATH']].join(delimiter), CLAUDEMESH_HOME: join(bin, 'home'), CLAUDEMESH_DAEMON: 'off' };
    const version = await run('claudemesh', ['--version'], env);
    expect(version.code, version.stderr).toBe(0);
    expect(version.stdout).toMatch(/\d+\.\d+\.\d+/);
    const list = await run('claudemesh', ['plugin', 'list', '--json'], env);
    expect(list.code, list.stderr).toBe(0);
    expect((JSON.parse(list.stdout) as Array<{ name: string }>).map((p) => p.name)).toContain('bridge');
  });
});

describe('.env.example', () => {
  const schemaKeys = Object.keys(BrokerEnv.shape);
  const { set, listed } = envExample();

  it('lists every setting of the broker\'s env schema, and nothing else but the stack\'s own variables', () => {
    expect(schemaKeys.filter((k) => !(k in listed))).toEqual([]);
    expect(Object.keys(listed).filter((k) => !schemaKeys.includes(k) && !COMPOSE_ONLY.includes(k))).toEqual([]);
    // The stack's own variables are the ones docker-compose.yml reads.
    const composeText = read('docker-compose.yml');
    for (const k of COMPOSE_ONLY) expect(composeText).toContain(`\${${k}`);
  });

  it('shows each default as the schema has it, and every value it shows is one the schema accepts', () => {
    const shape = BrokerEnv.shape as Record<string, { safeParse(v: unknown): { success: boolean; data?: unknown } }>;
    for (const [key, value] of Object.entries(listed)) {
      const field = shape[key];
      if (!field || value === '') continue;
      expect(field.safeParse(value).success, `${key}=${value}`).toBe(true);
      const fallback = field.safeParse(undefined);
      if (fallback.success && fallback.data !== undefined && !(key in set) && !IMAGE_SET.includes(key)) expect(`${key}=${value}`).toBe(`${key}=${String(fallback.data)}`);
    }
  });

  it('sets what compose requires (the ${VAR:?} ones) and the README documents every broker setting', () => {
    const required = [...read('docker-compose.yml').matchAll(/\$\{([A-Z0-9_]+):\?/g)].map((m) => m[1]!);
    for (const k of required) expect(set).toHaveProperty(k);
    const readme = read('README.md');
    const config = readme.slice(readme.indexOf('## Configuration (environment)'), readme.indexOf('\n## ', readme.indexOf('## Configuration (environment)') + 5));
    for (const key of schemaKeys) expect(config, key).toContain(`\`${key}\``);
    expect(readme).toContain('docs/self-hosting.md');
  });
});

describe('docs/self-hosting.md "Limits"', () => {
  /** The table's rows: variable → default cell, as written. */
  const rows = (): Map<string, string> => {
    const section = read('docs/self-hosting.md').split(/^## /m).find((part) => part.startsWith('Limits\n'));
    expect(section, 'a "## Limits" section').toBeDefined();
    const found = new Map<string, string>();
    for (const line of section!.split('\n')) {
      const m = /^\| `(CLAUDEMESH_[A-Z0-9_]+)` \| ([^|]+) \|/.exec(line);
      if (m) found.set(m[1]!, m[2]!.trim());
    }
    return found;
  };

  it('lists every limit variable of the broker (WebSocket, queue, HTTP, SSE, search) with the default the schema applies', () => {
    const table = rows();
    const limitKeys = Object.keys(LIMITS_ENV).concat(Object.keys(REST_LIMITS_ENV)).filter((k) => k !== 'CLAUDEMESH_TRUST_PROXY');
    expect([...table.keys()].sort()).toEqual(limitKeys.sort());
    const defaults = BrokerEnv.parse({}) as Record<string, unknown>;
    for (const key of limitKeys) {
      const cell = table.get(key)!;
      const value = defaults[key];
      if (value === undefined) {
        // Chosen by the database kind at start (CLAUDEMESH_SEARCH_CONCURRENCY).
        expect(cell, key).toBe(`\`${SEARCH_CONCURRENCY.embedded}\` embedded, \`${SEARCH_CONCURRENCY.postgres}\` Postgres`);
      } else {
        expect(/^`([^`]+)`/.exec(cell)?.[1], key).toBe(String(value));
      }
    }
  });
});

describe.skipIf(!pgAvailable())('the stack\'s commands, run natively on Postgres', () => {
  const dirs: string[] = [];
  let db: TestDatabase | undefined;
  let broker: ChildProcess | undefined;
  afterAll(async () => {
    if (broker && broker.exitCode === null) broker.kill('SIGKILL');
    await db?.drop();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('the CMD starts the broker with compose\'s environment; the HEALTHCHECK, pg_isready and the CLI launcher pass; SIGTERM stops it cleanly', { timeout: 240_000 }, async () => {
    db = await createTestDatabase();
    const data = mkdtempSync(join(tmpdir(), 'cmh-selfhost-'));
    dirs.push(data);
    const port = await freePort();
    const { set: dotenv } = envExample();
    const broker$ = services['broker']!;
    const composed = Object.fromEntries(Object.entries(broker$.environment ?? {}).map(([k, v]) => [k, interpolate(String(v), dotenv)]));
    // Compose's order: the image's ENV, then env_file (.env from .env.example), then environment.
    // What only a container has is replaced: the database, the port, the data volume, loopback.
    const env: NodeJS.ProcessEnv = {
      PATH: process.env['PATH'],
      ...imageEnv(),
      ...dotenv,
      ...composed,
      DATABASE_URL: db.url,
      PORT: String(port),
      HOST: '127.0.0.1',
      DATA_DIR: data,
      CLAUDEMESH_HOME: join(data, 'home'),
      PUBLIC_URL: `http://127.0.0.1:${port}`,
    };
    expect(composed['DATABASE_URL']).toMatch(/^postgres:\/\/claudemesh:.+@postgres:5432\/claudemesh$/);

    const [node, ...args] = cmd();
    expect(node).toBe('node');
    const child = spawn(process.execPath, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    broker = child;
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (output += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (output += c));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    await waitFor(() => output.includes('a peer joins with') || child.exitCode !== null, 'the broker\'s first-start banner', 120_000);
    expect(output).toContain('database: Postgres (DATABASE_URL)');
    // What docs/self-hosting.md has the operator read in `docker compose logs broker`.
    expect(output).toMatch(/created "default" \([0-9a-f-]{36}\); owner key and mesh key: /);
    expect(output).toMatch(/^ {2}claudemesh join 'http:\/\/127\.0\.0\.1:\d+\/i\/[0-9A-Z-]+' --name <their-name>$/m);

    // The Dockerfile's HEALTHCHECK (and compose's): node with the container's PORT.
    const [hcNode, ...hcArgs] = healthcheck();
    expect(hcNode).toBe('node');
    expect(await run(process.execPath, hcArgs, { PATH: env['PATH'], PORT: String(port) })).toMatchObject({ code: 0 });

    // The postgres service's healthcheck, against this server.
    const pgUrl = new URL(db.url);
    const isReady = await run('pg_isready', ['-h', '127.0.0.1', '-p', pgUrl.port || '5432', '-U', pgUrl.username || 'postgres'], { PATH: env['PATH'] });
    expect(isReady.code, isReady.stdout + isReady.stderr).toBe(0);

    // `claudemesh` as the image puts it on PATH; an admin verb with the broker's CLAUDEMESH_HOME.
    const bin = join(data, 'bin');
    mkdirSync(bin);
    symlinkSync(inRepo(launcher()), join(bin, 'claudemesh'));
    const cliEnv = { ...env, PATH: [bin, dirname(process.execPath), env['PATH']].join(delimiter) };
    const version = await run('claudemesh', ['--version'], cliEnv);
    expect(version.code, version.stderr).toBe(0);
    expect(version.stdout).toMatch(/\d+\.\d+\.\d+/);
    const invite = await run('claudemesh', ['mesh', 'invite', '--mesh', 'default', '--json'], cliEnv);
    expect(invite.code, invite.stderr).toBe(0);
    expect((JSON.parse(invite.stdout) as { link: string }).link).toMatch(new RegExp(`^http://127\\.0\\.0\\.1:${port}/i/`));
    // The owner's web sign-in link, as docs/self-hosting.md has it printed (no browser in a container).
    const signin = await run('claudemesh', ['web', '--mesh', 'default', '--print'], cliEnv);
    expect(signin.code, signin.stderr).toBe(0);
    expect(signin.stdout).toContain(`http://127.0.0.1:${port}/#/signin?code=`);

    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(output).toContain('claudemesh broker stopped (SIGTERM)');
  });
});
