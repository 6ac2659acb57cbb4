import { spawn } from 'node:child_process';
import { mkdirSync, openSync } from 'node:fs';
import { createConnection, type Socket } from 'node:net';
import type { PeerInfo } from '@claudemesh/core';
import { cliBinPath } from '../claude/cli-location.js';
import { EXIT } from '../exit-codes.js';
import { daemonPaths } from './paths.js';
import { LineReader } from './lines.js';
import type { DaemonAnswer, DaemonErrorBody, DaemonEvent, DaemonRequest } from './protocol.js';

type Params<M extends DaemonRequest['method']> = Extract<DaemonRequest, { method: M }> extends { params: infer P } ? P : undefined;

export class DaemonCallError extends Error {
  constructor(readonly body: DaemonErrorBody) {
    super(body.message);
  }
}

/**
 * A daemon started by an earlier claudemesh (still running after an upgrade) does not know
 * `inbox_ready`: answer as that version did rather than fail; its next restart brings the wait.
 */
export function olderDaemon(error: unknown): { complete: true; broker_url: string } {
  if (error instanceof DaemonCallError && error.body.exit_code === EXIT.usage && /bad daemon request/.test(error.body.message)) return { complete: true, broker_url: '' };
  throw error;
}

/** A connection to the local daemon's socket: request/answer, or a stream of events after subscribe. */
export class DaemonClient {
  private nextId = 1;
  private readonly waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private readonly eventHandlers: Array<(e: DaemonEvent) => void> = [];
  private closedError: Error | null = null;

  private constructor(private readonly socket: Socket) {
    const reader = new LineReader((line) => this.onLine(line));
    socket.on('data', (chunk) => reader.push(chunk));
    socket.on('error', (e) => this.fail(e));
    socket.on('close', () => this.fail(new Error('the daemon closed the connection')));
  }

  static connect(socketPath: string, timeoutMs = 1_000): Promise<DaemonClient> {
    return new Promise((resolve, reject) => {
      const socket = createConnection(socketPath);
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error('the daemon did not answer'));
      }, timeoutMs);
      socket.once('connect', () => {
        clearTimeout(timer);
        resolve(new DaemonClient(socket));
      });
      socket.once('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
    });
  }

  call<M extends DaemonRequest['method']>(method: M, ...[params]: Params<M> extends undefined ? [] : [Params<M>]): Promise<unknown> {
    if (this.closedError) return Promise.reject(this.closedError);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      this.socket.write(`${JSON.stringify({ id, method, ...(params === undefined ? {} : { params }) })}\n`);
    });
  }

  onEvent(handler: (e: DaemonEvent) => void): void {
    this.eventHandlers.push(handler);
  }

  onClose(handler: (e: Error) => void): void {
    this.socket.once('close', () => handler(this.closedError ?? new Error('closed')));
  }

  close(): void {
    this.socket.end();
    this.socket.destroy();
  }

  private onLine(line: string): void {
    const msg = JSON.parse(line) as DaemonAnswer | DaemonEvent;
    if ('event' in msg) {
      for (const h of this.eventHandlers) h(msg);
      return;
    }
    const w = this.waiting.get(msg.id);
    if (!w) return;
    this.waiting.delete(msg.id);
    if (msg.ok) w.resolve(msg.result);
    else w.reject(new DaemonCallError(msg.error));
  }

  private fail(error: Error): void {
    this.closedError ??= error;
    for (const w of this.waiting.values()) w.reject(error);
    this.waiting.clear();
  }
}

/** The CLI entry point, to start the daemon with the same Node and code as this process. */
export const CLI_BIN = cliBinPath();

/**
 * Connects to the daemon of `home`, starting it when absent (detached, logging to daemon.log).
 * Resolves null when it cannot be reached or started: callers fall back to a direct connection.
 * CLAUDEMESH_DAEMON=off disables it.
 */
export async function ensureDaemon(home: string, env: NodeJS.ProcessEnv = process.env): Promise<DaemonClient | null> {
  if (env['CLAUDEMESH_DAEMON'] === 'off') return null;
  const paths = daemonPaths(home);
  try {
    return await DaemonClient.connect(paths.socket);
  } catch {
    // not running: start it
  }
  try {
    mkdirSync(home, { recursive: true, mode: 0o700 });
    const log = openSync(paths.log, 'a', 0o600);
    const child = spawn(process.execPath, [CLI_BIN, 'daemon', 'run'], { detached: true, stdio: ['ignore', log, log], env: { ...env, CLAUDEMESH_HOME: home } });
    child.unref();
  } catch {
    return null;
  }
  const deadline = Date.now() + 3_000;
  while (Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 40));
    try {
      return await DaemonClient.connect(paths.socket, 500);
    } catch {
      // not listening yet
    }
  }
  return null;
}

/** The daemon's `peers` answer: the list, and when it is the last one seen (stale). */
export interface PeerListAnswer {
  peers: PeerInfo[];
  stale: { at: number; cause: string } | null;
}

/** Reads a `peers` answer; a daemon started by an older claudemesh answers the bare list. */
export function peerList(answer: unknown): PeerListAnswer {
  return Array.isArray(answer) ? { peers: answer as PeerInfo[], stale: null } : (answer as PeerListAnswer);
}
