/**
 * The embedded database: PGlite in a worker thread (so its WASM never blocks the broker's event
 * loop), served over a unix socket with the Postgres wire protocol (see embedded-postgres.worker.ts)
 * and reached through the same `pg` driver as a real Postgres.
 *
 * The socket file is `<socketDir>/.s.PGSQL.<port>`, the name libpq and `pg` derive from
 * `{ host: socketDir, port }`; the port only names the file, nothing listens on TCP.
 *
 * PGlite is a single session: use ONE connection at a time (pool max 1). Further connections
 * wait for the slot; each connection starts from a reset session.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { EmbeddedWorkerInput, MainToWorker, PgliteWasmModule, StartupSource, WorkerToMain } from './embedded-postgres.worker.js';

export type { StartupSource } from './embedded-postgres.worker.js';

export interface EmbeddedPostgresOptions {
  /** Data directory, created if missing. Undefined = in-memory database (tests). */
  dataDir?: string;
  /** Directory for the unix socket file; created (mode 0700) if missing. */
  socketDir: string;
  /** Names the socket file `.s.PGSQL.<port>`. Default 5432. */
  port?: number;
  /**
   * Where the tarball of a freshly initialised cluster is cached, so that a new data directory
   * costs a tarball load instead of initdb. Default `<os.tmpdir()>/claudemesh-pglite-<uid>`;
   * `false` always runs initdb. The directory is used only if it is ours and mode 0700.
   */
  templateCacheDir?: string | false;
  /** How long an extra connection waits for the single session before FATAL 53300. Default 30 s. */
  slotWaitMs?: number;
  /**
   * A digest of the migrations a new cluster gets: with it a fresh data directory starts from the
   * cached cluster those migrations already built (saved by saveMigratedTemplate after a first run).
   */
  migratedKey?: string;
  /** Postgres `shared_buffers` for this cluster (e.g. `16MB`); default PGlite's 128 MB. */
  sharedBuffers?: string;
  /** Receives the worker's diagnostic lines (stale socket removed, cache problems). */
  log?: (line: string) => void;
  /** Called if the worker dies without stop(): the database is gone, the process should exit. */
  onUnexpectedExit?: (error: Error) => void;
}

export interface EmbeddedPostgresConnection {
  host: string;
  port: number;
  user: string;
  database: string;
}

export interface EmbeddedPostgres {
  /** A `pg.ClientConfig` for the socket: `host` is the socket directory. */
  readonly connection: EmbeddedPostgresConnection;
  readonly socketPath: string;
  readonly dataDir: string | undefined;
  /** How the cluster was opened and how long it took, in ms, inside the worker. */
  readonly startup: { ms: number; source: StartupSource };
  /**
   * After the migrations ran on a new cluster (and before anything else connected): caches it, so
   * the next fresh data directory with the same migrations skips them. Resolves whether it saved.
   */
  saveMigratedTemplate(): Promise<boolean>;
  /** Closes client connections, shuts PGlite down cleanly (checkpoint) and removes the socket. */
  stop(): Promise<void>;
}

export class EmbeddedPostgresError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'EmbeddedPostgresError';
  }
}

/** Longest unix socket path accepted everywhere we run (macOS sun_path is 104 bytes with NUL). */
const MAX_SOCKET_PATH = 103;
const STOP_TIMEOUT_MS = 15_000;

export function defaultTemplateCacheDir(): string {
  const uid = typeof process.getuid === 'function' ? process.getuid() : 'user';
  return join(tmpdir(), `claudemesh-pglite-${uid}`);
}

let compiledWasm: Promise<PgliteWasmModule | null> | undefined;

/**
 * PGlite's WASM, compiled once per process and handed to every worker (a compiled module is shared
 * between threads, not copied): a process that opens several embedded databases, the tests above
 * all, compiles and optimises the 9 MB module once instead of once per database. Null when it
 * cannot be found, and PGlite compiles its own.
 */
function pgliteWasm(): Promise<PgliteWasmModule | null> {
  compiledWasm ??= (async () => {
    try {
      const entry = createRequire(import.meta.url).resolve('@electric-sql/pglite');
      // The WebAssembly global exists in Node; the build's libs do not declare it.
      const wasm = (globalThis as unknown as { WebAssembly: { compile(bytes: Uint8Array): Promise<PgliteWasmModule> } }).WebAssembly;
      return await wasm.compile(readFileSync(join(dirname(entry), 'pglite.wasm')));
    } catch {
      return null;
    }
  })();
  return compiledWasm;
}

async function workerEntry(): Promise<URL> {
  const compiledSibling = new URL('./embedded-postgres.worker.js', import.meta.url);
  if (existsSync(fileURLToPath(compiledSibling))) return compiledSibling;
  // Running from TypeScript sources (vitest): compile the worker for plain Node.
  const { compiledRuntimeDir } = await import('./run-from-source.js');
  return pathToFileURL(join(await compiledRuntimeDir(), 'embedded-postgres.worker.js'));
}

export async function startEmbeddedPostgres(options: EmbeddedPostgresOptions): Promise<EmbeddedPostgres> {
  const port = options.port ?? 5432;
  const socketDir = resolve(options.socketDir);
  const socketPath = join(socketDir, `.s.PGSQL.${port}`);
  if (Buffer.byteLength(socketPath) > MAX_SOCKET_PATH) {
    throw new EmbeddedPostgresError('E_SOCKET_PATH_TOO_LONG', `unix socket path ${socketPath} is longer than ${MAX_SOCKET_PATH} bytes; use a shorter DATA_DIR`);
  }
  const dataDir = options.dataDir === undefined ? undefined : isAbsolute(options.dataDir) ? options.dataDir : resolve(options.dataDir);
  const templateCacheDir = options.templateCacheDir === false ? null : resolve(options.templateCacheDir ?? defaultTemplateCacheDir());
  const input: EmbeddedWorkerInput = {
    dataDir: dataDir ?? null,
    socketPath,
    templateCacheDir,
    slotWaitMs: options.slotWaitMs ?? 30_000,
    migratedKey: options.migratedKey ?? null,
    sharedBuffers: options.sharedBuffers ?? null,
    wasmModule: await pgliteWasm(),
  };
  const log = options.log ?? ((): void => undefined);

  const worker = new Worker(await workerEntry(), { workerData: input });
  let stopping = false;
  let exited = false;
  const exit = new Promise<number>((resolveExit) => worker.once('exit', (code) => { exited = true; resolveExit(code); }));

  const ready = await new Promise<{ ms: number; source: StartupSource }>((resolveReady, reject) => {
    const onExit = (code: number): void => reject(new EmbeddedPostgresError('E_EMBEDDED_START', `embedded database worker exited (code ${code}) before it was ready`));
    const onError = (error: Error): void => reject(new EmbeddedPostgresError('E_EMBEDDED_START', `embedded database worker failed: ${error.message}`));
    worker.once('exit', onExit);
    worker.once('error', onError);
    const onMessage = (message: WorkerToMain): void => {
      if (message.type === 'log') return log(message.line);
      worker.off('message', onMessage);
      worker.off('exit', onExit);
      worker.off('error', onError);
      if (message.type === 'ready') resolveReady({ ms: message.startupMs, source: message.source });
      else if (message.type === 'error') reject(new EmbeddedPostgresError(message.code ?? 'E_EMBEDDED_START', message.message));
      else reject(new EmbeddedPostgresError('E_EMBEDDED_START', `unexpected message ${message.type} from the embedded database worker`));
    };
    worker.on('message', onMessage);
  }).catch(async (error: unknown) => {
    if (!exited) await worker.terminate();
    throw error;
  });

  let stopError: Error | undefined;
  const saveWaiters: Array<(saved: boolean) => void> = [];
  worker.on('message', (message: WorkerToMain) => {
    if (message.type === 'log') log(message.line);
    else if (message.type === 'template-saved') saveWaiters.shift()?.(message.file !== null);
    else if (message.type === 'error') stopError = new EmbeddedPostgresError(message.code ?? 'E_EMBEDDED_STOP', message.message);
  });
  worker.on('error', (error: Error) => {
    stopError ??= error;
  });
  void exit.then((code) => {
    if (!stopping) options.onUnexpectedExit?.(stopError ?? new EmbeddedPostgresError('E_EMBEDDED_EXIT', `embedded database worker exited unexpectedly (code ${code})`));
  });

  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopped ??= (async () => {
      stopping = true;
      if (exited) return;
      worker.postMessage({ type: 'stop' } satisfies MainToWorker);
      const timer = setTimeout(() => {
        stopError ??= new EmbeddedPostgresError('E_EMBEDDED_STOP', `embedded database did not stop within ${STOP_TIMEOUT_MS} ms`);
        void worker.terminate();
      }, STOP_TIMEOUT_MS);
      await exit;
      clearTimeout(timer);
      if (stopError) throw stopError;
    })();
    return stopped;
  };

  return {
    connection: { host: socketDir, port, user: 'postgres', database: 'postgres' },
    socketPath,
    dataDir,
    startup: ready,
    saveMigratedTemplate: () =>
      new Promise<boolean>((resolveSaved) => {
        if (exited || stopping || (ready.source !== 'template' && ready.source !== 'initdb')) return resolveSaved(false);
        saveWaiters.push(resolveSaved);
        worker.postMessage({ type: 'save-migrated-template' } satisfies MainToWorker);
      }),
    stop,
  };
}
