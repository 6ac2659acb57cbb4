/**
 * Worker thread that owns the embedded PGlite database and serves it over a unix socket with the
 * Postgres wire protocol, so the broker reaches it through the ordinary `pg` driver.
 *
 * PGlite is ONE backend session. Every client that connects shares it, so this worker admits one
 * connection at a time (later ones wait in a FIFO until the slot frees or `slotWaitMs` passes, then
 * get a proper FATAL 53300) and, between connections, resets the session (rollback + DISCARD ALL)
 * so that each connection starts like a fresh Postgres session: no open transaction, no leftover
 * SETs, prepared statements, advisory locks or temp tables.
 *
 * The protocol framing is @electric-sql/pglite-socket's PGLiteSocketHandler; the listening socket,
 * the admission gate and the query queue are ours (PGLiteSocketServer rejects a second connection
 * outright and leaks session state from one connection to the next).
 *
 * This file must stay self-contained at runtime (no relative value imports): it is loaded by
 * `new Worker()` from dist/, or from a transpiled copy when the broker runs from source.
 */
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, unlinkSync, utimesSync, writeFileSync, chmodSync } from 'node:fs';
import { createRequire } from 'node:module';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { dirname, join } from 'node:path';
import { parentPort, workerData } from 'node:worker_threads';
import { PGlite, type PGliteOptions } from '@electric-sql/pglite';
import { PGLiteSocketHandler, type PGLiteSocketHandlerOptions } from '@electric-sql/pglite-socket';

/** A compiled PGlite module (WebAssembly.Module; named through PGlite's own types). */
export type PgliteWasmModule = NonNullable<PGliteOptions['pgliteWasmModule']>;

export interface EmbeddedWorkerInput {
  /** Absolute data directory, or null for an in-memory database. */
  dataDir: string | null;
  /** Absolute path of the unix socket file to listen on (`<dir>/.s.PGSQL.<port>`). */
  socketPath: string;
  /** Directory holding the fresh-cluster tarball cache, or null to always run initdb. */
  templateCacheDir: string | null;
  /** How long a second connection waits for the single session before it is refused. */
  slotWaitMs: number;
  /**
   * Names the migrations a new cluster should have applied (a digest of the migration files), so a
   * fresh data directory can start from a cached, already migrated cluster; null disables that.
   */
  migratedKey: string | null;
  /** Postgres `shared_buffers` (e.g. `16MB`); null keeps PGlite's default (128 MB). */
  sharedBuffers: string | null;
  /** PGlite's WASM, compiled once per process by the parent thread (null: PGlite compiles its own). */
  wasmModule: PgliteWasmModule | null;
}

/** How the cluster was opened: an existing data dir, a migrated template, the fresh-cluster template, or initdb. */
export type StartupSource = 'existing' | 'migrated' | 'template' | 'initdb';

export type WorkerToMain =
  | { type: 'ready'; startupMs: number; source: StartupSource }
  | { type: 'log'; line: string }
  | { type: 'error'; message: string; code?: string; stack?: string }
  | { type: 'stopped' }
  | { type: 'template-saved'; file: string | null };

export type MainToWorker = { type: 'stop' } | { type: 'save-migrated-template' };

class CodedError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

// ---------------------------------------------------------------------------------------------
// Wire helpers

function frontendMessage(tag: string, body: Buffer): Uint8Array {
  const out = Buffer.alloc(5 + body.length);
  out.write(tag, 0, 'latin1');
  out.writeInt32BE(4 + body.length, 1);
  body.copy(out, 5);
  return new Uint8Array(out);
}
const simpleQuery = (sql: string): Uint8Array => frontendMessage('Q', Buffer.from(`${sql}\0`, 'utf8'));
const syncMessage = (): Uint8Array => frontendMessage('S', Buffer.alloc(0));

/** A backend ErrorResponse, sent to a client we refuse before it reaches the session. */
function fatalResponse(sqlState: string, message: string): Buffer {
  const fields = Buffer.from(`SFATAL\0VFATAL\0C${sqlState}\0M${message}\0\0`, 'utf8');
  const out = Buffer.alloc(5 + fields.length);
  out.write('E', 0, 'latin1');
  out.writeInt32BE(4 + fields.length, 1);
  fields.copy(out, 5);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Query queue: the object PGLiteSocketHandler hands each protocol message to.

type HandlerQueue = PGLiteSocketHandlerOptions['queryQueue'];

class SessionQueue {
  #tail: Promise<unknown> = Promise.resolve();

  constructor(private readonly db: PGlite) {}

  /** Runs tasks strictly one after another, in submission order. */
  run<T>(task: () => Promise<T>): Promise<T> {
    const result = this.#tail.then(task);
    this.#tail = result.catch(() => undefined);
    return result;
  }

  enqueue(_handlerId: number, message: Uint8Array, onData: (data: Uint8Array) => void): Promise<number> {
    return this.run(async () => {
      let bytes = 0;
      await this.db.runExclusive(() =>
        this.db.execProtocolRawStream(message, {
          onRawData: (data: Uint8Array) => {
            bytes += data.length;
            onData(data);
          },
        }),
      );
      return bytes;
    });
  }

  // Only one handler is ever attached, and the gate resets the session after it leaves.
  clearQueueForHandler(): void {}
  async clearTransactionIfNeeded(): Promise<void> {}

  /**
   * Make the session look fresh for the next connection. Rolls back a transaction the previous
   * client left open, including an implicit extended-protocol one (a simple-query ROLLBACK aborts
   * it; a Sync clears an "ignore until Sync" error state), then DISCARD ALL drops settings,
   * prepared statements, portals, advisory locks, LISTENs and temp tables.
   */
  resetSession(): Promise<void> {
    return this.run(async () => {
      for (const message of [simpleQuery('ROLLBACK'), syncMessage(), simpleQuery('ROLLBACK'), simpleQuery('DISCARD ALL')]) {
        await this.db.runExclusive(() => this.db.execProtocolRaw(message));
      }
    });
  }
}

// ---------------------------------------------------------------------------------------------
// Admission gate: one attached connection at a time, the rest wait in order.

interface Waiting {
  socket: Socket;
  timer: NodeJS.Timeout;
}

class Gate {
  #db: PGlite | null = null;
  #queue: SessionQueue | null = null;
  /** The attached connection, and a promise that settles once its session has been reset. */
  #active: { socket: Socket; released: Promise<void> } | null = null;
  #waiting: Waiting[] = [];
  #closing = false;

  constructor(private readonly slotWaitMs: number) {}

  /** Called once PGlite is open; connections accepted before that simply waited. */
  open(db: PGlite): void {
    this.#db = db;
    this.#queue = new SessionQueue(db);
    this.#next();
  }

  accept = (socket: Socket): void => {
    if (this.#closing) {
      this.#refuse(socket, '57P03', 'the embedded database is shutting down');
      return;
    }
    const timer = setTimeout(() => {
      this.#drop(socket);
      this.#refuse(socket, '53300', `the embedded database serves one connection at a time and the slot stayed busy for ${this.slotWaitMs} ms`);
    }, this.slotWaitMs);
    timer.unref();
    const entry: Waiting = { socket, timer };
    this.#waiting.push(entry);
    socket.once('close', () => this.#drop(socket));
    socket.on('error', () => this.#drop(socket));
    this.#next();
  };

  #drop(socket: Socket): void {
    const index = this.#waiting.findIndex((w) => w.socket === socket);
    if (index >= 0) {
      clearTimeout(this.#waiting[index]!.timer);
      this.#waiting.splice(index, 1);
    }
  }

  #refuse(socket: Socket, sqlState: string, message: string): void {
    socket.on('error', () => undefined); // a client that already left must not crash the worker
    // Destroy once the error is flushed: a client that ignores it must not hold server.close() up.
    if (!socket.destroyed && socket.writable) socket.write(fatalResponse(sqlState, message), () => socket.destroy());
    else socket.destroy();
  }

  #next(): void {
    if (this.#closing || this.#active || !this.#db || !this.#queue) return;
    const entry = this.#waiting.shift();
    if (!entry) return;
    clearTimeout(entry.timer);
    const { socket } = entry;
    socket.removeAllListeners('close');
    socket.removeAllListeners('error');
    if (socket.destroyed) {
      this.#next();
      return;
    }
    let release!: () => void;
    const released = new Promise<void>((resolve) => {
      let started = false;
      release = (): void => {
        if (started) return;
        started = true;
        void this.#release(socket).then(resolve);
      };
    });
    this.#active = { socket, released };
    const handler = new PGLiteSocketHandler({ queryQueue: this.#queue as unknown as HandlerQueue, closeOnDetach: true });
    handler.addEventListener('close', release);
    handler.addEventListener('error', release);
    handler
      .attach(socket)
      .then(() => socket.resume())
      .catch(() => {
        socket.destroy();
        release();
      });
  }

  async #release(socket: Socket): Promise<void> {
    socket.destroy();
    try {
      await this.#queue?.resetSession();
    } catch {
      // The session is unusable only if PGlite itself is gone; shutdown reports that.
    }
    this.#active = null;
    this.#next();
  }

  /** Refuse everyone waiting, cut the active connection and wait until its session is reset. */
  async close(): Promise<void> {
    this.#closing = true;
    for (const { socket, timer } of this.#waiting.splice(0)) {
      clearTimeout(timer);
      this.#refuse(socket, '57P01', 'the embedded database is shutting down');
    }
    const active = this.#active;
    if (active) {
      active.socket.destroy(); // the handler sees the close and releases the slot
      await active.released;
    }
    await this.#queue?.run(async () => undefined);
  }
}

// ---------------------------------------------------------------------------------------------
// Socket file: claim it atomically, removing a stale one left by a killed process.

function listen(server: Server, path: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (error: Error): void => reject(error);
    server.once('error', onError);
    server.listen(path, () => {
      server.off('error', onError);
      resolve();
    });
  });
}

function socketAnswers(path: string): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const probe = connect(path);
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', (error: NodeJS.ErrnoException) => {
      probe.destroy();
      if (error.code === 'ECONNREFUSED' || error.code === 'ENOENT') resolve(false);
      else reject(error);
    });
  });
}

async function claimSocket(server: Server, socketPath: string, log: (line: string) => void): Promise<void> {
  mkdirSync(dirname(socketPath), { recursive: true, mode: 0o700 });
  try {
    await listen(server, socketPath);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw error;
    if (await socketAnswers(socketPath)) {
      throw new CodedError('E_EMBEDDED_IN_USE', `another process is serving ${socketPath}; is a broker already running on this DATA_DIR?`);
    }
    if (!lstatSync(socketPath).isSocket()) {
      throw new CodedError('E_EMBEDDED_IN_USE', `${socketPath} exists and is not a socket; refusing to replace it`);
    }
    log(`removing stale socket ${socketPath} left by a previous run`);
    unlinkSync(socketPath);
    await listen(server, socketPath);
  }
  chmodSync(socketPath, 0o600);
}

// ---------------------------------------------------------------------------------------------
// PGlite: open an existing cluster, or create one (from the cached template when possible).

function pgliteVersion(): string {
  const require = createRequire(import.meta.url);
  let dir = dirname(require.resolve('@electric-sql/pglite'));
  for (;;) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest)) {
      const parsed = JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string; version?: string };
      if (parsed.name === '@electric-sql/pglite' && parsed.version) return parsed.version;
    }
    const parent = dirname(dir);
    if (parent === dir) return 'unknown';
    dir = parent;
  }
}

/** Only use a cache directory that is ours alone: a real directory, owned by us, mode 0700. */
function privateDir(dir: string): boolean {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const stat = lstatSync(dir);
    const ownedByUs = typeof process.getuid !== 'function' || stat.uid === process.getuid();
    return stat.isDirectory() && ownedByUs && (stat.mode & 0o077) === 0;
  } catch {
    return false;
  }
}

function readTemplate(file: string): Buffer | null {
  try {
    const stat = lstatSync(file);
    const ownedByUs = typeof process.getuid !== 'function' || stat.uid === process.getuid();
    return stat.isFile() && ownedByUs ? readFileSync(file) : null;
  } catch {
    return null;
  }
}

function emptyDir(dir: string): void {
  for (const entry of readdirSync(dir)) rmSync(join(dir, entry), { recursive: true, force: true });
}

/** PGlite's own start parameters plus the operator's shared_buffers, and the parent's compiled WASM. */
function startParams(input: EmbeddedWorkerInput): { startParams?: string[]; pgliteWasmModule?: PgliteWasmModule } {
  return {
    ...(input.sharedBuffers === null ? {} : { startParams: [...PGlite.defaultStartParams, '-c', `shared_buffers=${input.sharedBuffers}`] }),
    ...(input.wasmModule === null ? {} : { pgliteWasmModule: input.wasmModule }),
  };
}

/** The cached, already migrated cluster for this PGlite and these migrations, when the cache may be used. */
function migratedTemplateFile(input: EmbeddedWorkerInput): string | null {
  if (input.migratedKey === null || input.templateCacheDir === null || !privateDir(input.templateCacheDir)) return null;
  return join(input.templateCacheDir, `pglite-${pgliteVersion()}-migrated-${input.migratedKey}.tar`);
}

async function openPglite(input: EmbeddedWorkerInput, log: (line: string) => void): Promise<{ db: PGlite; source: StartupSource }> {
  const { dataDir } = input;
  if (dataDir !== null) {
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    if (existsSync(join(dataDir, 'PG_VERSION'))) return { db: await PGlite.create({ dataDir, ...startParams(input) }), source: 'existing' };
    if (readdirSync(dataDir).length > 0) {
      throw new CodedError('E_EMBEDDED_DATA_DIR', `${dataDir} is not empty but holds no database (no PG_VERSION); refusing to initialise over it`);
    }
  }
  const options = { ...(dataDir === null ? {} : { dataDir }), ...startParams(input) };

  // A cluster with every migration already applied: the migration runner then finds nothing to do.
  const migratedFile = migratedTemplateFile(input);
  const migrated = migratedFile === null ? null : readTemplate(migratedFile);
  if (migratedFile !== null && migrated !== null) {
    try {
      const db = await PGlite.create({ ...options, loadDataDir: new Blob([new Uint8Array(migrated)]) });
      touch(migratedFile);
      return { db, source: 'migrated' };
    } catch (error) {
      log(`migrated template ${migratedFile} failed to load (${(error as Error).message}); starting from the fresh cluster`);
      rmSync(migratedFile, { force: true });
      if (dataDir !== null) emptyDir(dataDir);
    }
  }

  const cacheDir = input.templateCacheDir !== null && privateDir(input.templateCacheDir) ? input.templateCacheDir : null;
  const templateFile = cacheDir === null ? null : join(cacheDir, `pglite-${pgliteVersion()}-pgdata.tar`);
  const template = templateFile === null ? null : readTemplate(templateFile);
  if (templateFile !== null && template !== null) {
    try {
      return { db: await PGlite.create({ ...options, loadDataDir: new Blob([new Uint8Array(template)]) }), source: 'template' };
    } catch (error) {
      log(`template ${templateFile} failed to load (${(error as Error).message}); running initdb instead`);
      rmSync(templateFile, { force: true });
      if (dataDir !== null) emptyDir(dataDir);
    }
  }

  const db = await PGlite.create(options);
  if (templateFile !== null) {
    // A dump of the untouched cluster; taken before any client can connect, so it holds no data.
    try {
      await saveDump(db, templateFile);
    } catch (error) {
      log(`could not cache the fresh cluster in ${templateFile}: ${(error as Error).message}`);
    }
  }
  return { db, source: 'initdb' };
}

/** Migrated templates kept in the cache directory: the most recently used ones. */
const KEEP_MIGRATED_TEMPLATES = 4;

/** Marks a template as used, so pruning keeps it. */
function touch(file: string): void {
  try {
    const now = new Date();
    utimesSync(file, now, now);
  } catch {
    // only the pruning order suffers
  }
}

/** Every schema change names a new migrated template (about 40 MB each): keep the few last used. */
function pruneMigratedTemplates(dir: string): void {
  const templates = readdirSync(dir)
    .filter((f) => /^pglite-.+-migrated-[0-9a-f]+\.tar$/.test(f))
    .map((f) => ({ f, at: lstatSync(join(dir, f)).mtimeMs }))
    .sort((a, b) => b.at - a.at);
  for (const { f } of templates.slice(KEEP_MIGRATED_TEMPLATES)) rmSync(join(dir, f), { force: true });
}

/** The cluster as a tarball, written aside and renamed into place (a file that exists is whole). */
async function saveDump(db: PGlite, file: string): Promise<void> {
  const dump = await db.dumpDataDir('none');
  const partial = `${file}.${process.pid}.${Date.now()}.partial`;
  try {
    writeFileSync(partial, new Uint8Array(await dump.arrayBuffer()), { mode: 0o600 });
    renameSync(partial, file);
  } finally {
    rmSync(partial, { force: true });
  }
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const port = parentPort;
  if (!port) throw new Error('embedded-postgres.worker must run in a worker thread');
  const input = workerData as EmbeddedWorkerInput;
  const post = (message: WorkerToMain): void => port.postMessage(message);
  const log = (line: string): void => post({ type: 'log', line });

  const started = performance.now();
  const gate = new Gate(input.slotWaitMs);
  const server = createServer({ pauseOnConnect: true }, gate.accept);
  let db: PGlite | null = null;

  const shutdown = async (): Promise<void> => {
    // server.close() only calls back once every connection is gone, which gate.close() arranges.
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    await gate.close();
    await closed;
    if (db && !db.closed) await db.close();
    rmSync(input.socketPath, { force: true });
  };

  let source: StartupSource | null = null;
  port.on('message', (message: MainToWorker) => {
    if (message.type === 'save-migrated-template') {
      // Asked right after the migrations ran on a new cluster, before any other client connected.
      const file = migratedTemplateFile(input);
      if (file === null || db === null || (source !== 'template' && source !== 'initdb')) return post({ type: 'template-saved', file: null });
      saveDump(db, file)
        .then(() => {
          pruneMigratedTemplates(dirname(file));
          post({ type: 'template-saved', file });
        })
        .catch((error: Error) => {
          log(`could not cache the migrated cluster in ${file}: ${error.message}`);
          post({ type: 'template-saved', file: null });
        });
      return;
    }
    if (message.type !== 'stop') return;
    shutdown()
      .then(() => post({ type: 'stopped' }))
      .catch((error: Error) => post({ type: 'error', message: `stopping the embedded database failed: ${error.message}`, stack: error.stack }))
      .finally(() => port.close());
  });

  try {
    // Claim the socket before touching the data directory: a live owner makes us stop here.
    await claimSocket(server, input.socketPath, log);
    const opened = await openPglite(input, log);
    db = opened.db;
    source = opened.source;
    gate.open(db);
    post({ type: 'ready', startupMs: Math.round(performance.now() - started), source: opened.source });
  } catch (error) {
    const err = error as Error & { code?: string };
    // Release what we claimed so the next attempt starts clean, but keep a foreign socket.
    if (server.listening) {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      await gate.close();
      await closed;
      rmSync(input.socketPath, { force: true });
    }
    if (db && !db.closed) await db.close().catch(() => undefined);
    post({ type: 'error', message: err.message, ...(err.code ? { code: err.code } : {}), ...(err.stack ? { stack: err.stack } : {}) });
    port.close();
  }
}

void main();
