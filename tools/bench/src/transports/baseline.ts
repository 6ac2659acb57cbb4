import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { freePort } from '../broker-process.js';
import type { BenchPeer, BenchSystem } from './transport.js';

const RELAY_MAIN = fileURLToPath(new URL('../baseline/relay.js', import.meta.url));

class RelayPeer implements BenchPeer {
  private seq = 0;
  private readonly pending = new Map<string, () => void>();
  private handler: (text: string) => void = () => undefined;

  constructor(
    readonly index: number,
    private readonly ws: WebSocket,
  ) {
    ws.on('message', (raw: Buffer) => {
      const frame = JSON.parse(raw.toString()) as { ack?: string; data?: string };
      if (frame.ack !== undefined) {
        this.pending.get(frame.ack)?.();
        this.pending.delete(frame.ack);
      } else if (frame.data !== undefined) this.handler(frame.data);
    });
  }

  send(to: number | `@${string}`, text: string): Promise<void> {
    const id = `${this.index}-${++this.seq}`;
    return new Promise((resolve) => {
      this.pending.set(id, resolve);
      this.ws.send(JSON.stringify({ id, to: String(to), data: text }));
    });
  }

  joinGroup(group: string): Promise<void> {
    return new Promise((resolve) => {
      this.pending.set('join', resolve);
      this.ws.send(JSON.stringify({ join: group }));
    });
  }

  onMessage(handler: (text: string) => void): void {
    this.handler = handler;
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      if (this.ws.readyState === WebSocket.CLOSED) return resolve();
      this.ws.once('close', () => resolve());
      this.ws.close();
    });
  }
}

/** The same clients and message sizes through a bare relay: what the hardware does without us. */
export class BaselineSystem implements BenchSystem {
  readonly name = 'baseline' as const;
  private child: ChildProcess | null = null;
  private port = 0;

  get serverPid(): number | undefined {
    return this.child?.pid;
  }

  async start(): Promise<void> {
    this.port = await freePort();
    const child = spawn(process.execPath, [RELAY_MAIN, String(this.port)], { stdio: ['ignore', 'pipe', 'inherit'] });
    this.child = child;
    await new Promise<void>((resolve, reject) => {
      child.stdout!.once('data', () => resolve());
      child.once('exit', (code) => reject(new Error(`relay exited with ${code}`)));
    });
  }

  async connect(count: number): Promise<BenchPeer[]> {
    const peers: BenchPeer[] = [];
    for (let i = 0; i < count; i++) {
      const ws = new WebSocket(`ws://127.0.0.1:${this.port}/?id=${i}`);
      await new Promise<void>((resolve, reject) => {
        ws.once('open', () => resolve());
        ws.once('error', reject);
      });
      peers.push(new RelayPeer(i, ws));
    }
    return peers;
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
    });
  }
}
