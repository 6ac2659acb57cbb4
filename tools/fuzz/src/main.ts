/**
 * npm run fuzz -- [--seed N] [--frames 100000] [--rest 3000] [--bearer 2000] [--hellos 600] [--lanes 4] [--unauth-lanes 2]
 *
 * Property-based fuzzing of the built broker, run as a child process on a fresh embedded database
 * (or Postgres with DATABASE_URL). Progress on stderr; the last line is the summary
 * `fuzz: N frames, M rest requests, C crashes, U unexpected`. Exits 1 on any violation.
 * Re-run with the printed --seed to replay the same generated cases.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs, stripVTControlCharacters } from 'node:util';
import { cryptoReady } from '@claudemesh/crypto';
import { BrokerProcess, freePort } from '../../bench/dist/broker-process.js';
import { FUZZ_BROKER_LIMITS } from './broker-limits.js';
import { runFuzz, summaryLine } from './harness.js';

const USAGE = `usage: npm run fuzz -- [options]

Fuzzes a fresh broker child process (embedded database, or Postgres with DATABASE_URL) with
generated WebSocket frames of every client type, hello handshakes and REST requests.

  --seed N              replay the cases of a previous run (default: random, printed first)
  --frames N            frames sent by the pipelining lanes (default 100000)
  --rest N              REST requests to the signed and public routes (default 3000)
  --bearer N            REST requests to the bearer routes of /api/openapi.json (default 2000)
  --hellos N            hello / transport cases, one connection each (default 600)
  --lanes N             authenticated pipelining lanes (default 4)
  --unauth-lanes N      unauthenticated lanes (default 2)
  --window N            frames per pipelined window (default 250)
  --rest-concurrency N  parallel REST requests (default 4)
  --timeout S           seconds to wait for a reply (default 20)
  --verbose             print every violation, not the first 5 of each kind
  --help                this text

The last line is the summary: fuzz: N frames, M rest requests, C crashes, U unexpected.
Exits 1 on any violation.`;

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      seed: { type: 'string' },
      frames: { type: 'string', default: '100000' },
      rest: { type: 'string', default: '3000' },
      bearer: { type: 'string', default: '2000' },
      hellos: { type: 'string', default: '600' },
      lanes: { type: 'string', default: '4' },
      'unauth-lanes': { type: 'string', default: '2' },
      window: { type: 'string', default: '250' },
      'rest-concurrency': { type: 'string', default: '4' },
      timeout: { type: 'string', default: '20' },
      verbose: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const seed = values.seed !== undefined ? Number(values.seed) : Math.floor(Math.random() * 2 ** 31);
  if (!Number.isSafeInteger(seed)) throw new Error(`--seed must be an integer, got ${values.seed}`);
  const log = (line: string): boolean => process.stderr.write(`${line}\n`);
  log(`fuzz: seed ${seed} (replay with: npm run fuzz -- --seed ${seed})`);
  await cryptoReady();

  const home = mkdtempSync(join(tmpdir(), 'cmh-fuzz-'));
  const adminToken = 'fuzz-admin-token-0123456789';
  const port = await freePort();
  // Every fuzz request comes from one address and most fail on purpose: the per-address and
  // per-key budgets (docs/protocol.md §8.4) would answer 429 to most of the run.
  const limits = { CLAUDEMESH_PUBLIC_ATTEMPTS_BURST: '1000000', CLAUDEMESH_SEARCH_BURST: '1000000', ...FUZZ_BROKER_LIMITS };
  const broker = new BrokerProcess({ PORT: String(port), HOST: '127.0.0.1', CLAUDEMESH_HOME: home, ADMIN_TOKEN: adminToken, BOOTSTRAP_MESH: 'off', LOG_LEVEL: 'error', ...limits });
  let exited = false;
  try {
    await broker.start();
    const pid = broker.pid;
    const alive = (): boolean => {
      if (exited || pid === undefined) return !exited;
      try {
        process.kill(pid, 0);
        return true;
      } catch {
        exited = true;
        return false;
      }
    };
    const result = await runFuzz(
      { httpUrl: `http://127.0.0.1:${port}`, wsUrl: `ws://127.0.0.1:${port}/ws`, adminToken, alive },
      {
        seed,
        frames: Number(values.frames),
        restRequests: Number(values.rest),
        bearerRequests: Number(values.bearer),
        helloCases: Number(values.hellos),
        authLanes: Number(values.lanes),
        unauthLanes: Number(values['unauth-lanes']),
        window: Number(values.window),
        restConcurrency: Number(values['rest-concurrency']),
        replyTimeoutMs: Number(values.timeout) * 1000,
        log,
        progressMs: 5000,
        printPerKind: values.verbose ? Number.MAX_SAFE_INTEGER : 5,
      },
    );
    const f = result.findings;
    // Anything the broker logged at error level is an internal error a client caused.
    const logged = broker.output.split('\n').filter((l) => /\bERROR\b/.test(l));
    if (logged.length > 0) f.violation('broker-error-log', `the broker logged ${logged.length} error lines, first: ${stripVTControlCharacters(logged[0]!).slice(0, 300)}`);
    log(
      `fuzz: ${(result.elapsedMs / 1000).toFixed(1)} s total, ${(result.laneMs / 1000).toFixed(1)} s fuzzing, ${result.framesPerSecond} frames/s, ${f.replies} replies, ${f.pushes} pushes/receipts, ${f.connections} connections`,
    );
    log(
      `fuzz: outcomes ${[...f.outcomes]
        .sort((a, b) => b[1] - a[1])
        .map(([k, n]) => `${k}=${n}`)
        .join(' ')}`,
    );
    if (f.unexpected > 0) log(`fuzz: violations by kind: ${f.summaryByKind()} (seed ${seed})`);
    log(summaryLine(result));
    return f.unexpected > 0 || f.crashes > 0 ? 1 : 0;
  } finally {
    await broker.kill('SIGTERM');
    rmSync(home, { recursive: true, force: true });
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`fuzz failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  },
);
