import WebSocket from 'ws';

/** A bare WebSocket peer for hostile-input tests: records every frame the broker sends. */
export class RawPeer {
  readonly frames: Array<Record<string, unknown>> = [];
  closed: { code: number; reason: string } | null = null;

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data: Buffer) => this.frames.push(JSON.parse(data.toString('utf8')) as Record<string, unknown>));
    ws.on('close', (code, reason) => (this.closed = { code, reason: reason.toString() }));
    ws.on('error', () => undefined);
  }

  static async connect(url: string): Promise<RawPeer> {
    const ws = new WebSocket(url, { maxPayload: 16 * 1024 * 1024 });
    const peer = new RawPeer(ws);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    await peer.next('challenge');
    return peer;
  }

  get challenge(): string {
    return this.frames.find((f) => f['type'] === 'challenge')!['nonce'] as string;
  }

  send(frame: unknown): void {
    this.ws.send(typeof frame === 'string' || Buffer.isBuffer(frame) ? frame : JSON.stringify(frame));
  }

  /** The next frame of this type not yet consumed by an earlier call. */
  async next(type: string, timeoutMs = 30_000): Promise<Record<string, unknown>> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const index = this.frames.findIndex((f) => f['type'] === type && !(f as { _seen?: boolean })._seen);
      if (index >= 0) {
        const frame = this.frames[index]!;
        Object.defineProperty(frame, '_seen', { value: true, enumerable: false });
        return frame;
      }
      if (Date.now() > deadline) throw new Error(`no ${type} frame within ${timeoutMs} ms; got ${JSON.stringify(this.frames)}`);
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  async waitClosed(timeoutMs = 30_000): Promise<{ code: number; reason: string }> {
    const deadline = Date.now() + timeoutMs;
    while (!this.closed) {
      if (Date.now() > deadline) throw new Error('connection not closed');
      await new Promise((r) => setTimeout(r, 5));
    }
    return this.closed;
  }

  close(): void {
    this.ws.close();
  }
}
