import WebSocket from 'ws';

type Handler = (data: Buffer, isBinary: boolean) => Promise<void>;

/**
 * Backpressure on what one connection sends: at most `maxInFlight` of its frames are handled at
 * once, and while it is at that bound (or told to hold, after a rate refusal) the broker stops
 * reading its socket, so TCP pushes back on the client instead of the broker queueing its frames.
 * Frames already read when the socket pauses (at most one read's worth) wait here in order.
 */
export class InboundGate {
  private inFlight = 0;
  private readonly waiting: Array<{ data: Buffer; isBinary: boolean }> = [];
  private holding = false;
  private holdTimer: NodeJS.Timeout | null = null;

  constructor(
    private readonly ws: WebSocket,
    private readonly maxInFlight: number,
    private readonly handle: Handler,
  ) {}

  push(data: Buffer, isBinary: boolean): void {
    this.waiting.push({ data, isBinary });
    this.pump();
  }

  /** Stops reading for `ms` (after a rate refusal: what the client sends meanwhile would be refused too). */
  hold(ms: number): void {
    if (this.holdTimer) clearTimeout(this.holdTimer);
    this.holding = true;
    this.holdTimer = setTimeout(() => {
      this.holdTimer = null;
      this.holding = false;
      this.pump();
    }, ms);
    this.holdTimer.unref();
    this.pump();
  }

  /** The connection ended: nothing waiting is handled any more. */
  close(): void {
    this.waiting.length = 0;
    if (this.holdTimer) clearTimeout(this.holdTimer);
  }

  /** Starts what may start, then pauses or resumes reading to match. */
  private pump(): void {
    const open = this.ws.readyState === WebSocket.OPEN;
    while (open && !this.holding && this.inFlight < this.maxInFlight && this.waiting.length > 0) {
      const { data, isBinary } = this.waiting.shift()!;
      this.inFlight += 1;
      void this.handle(data, isBinary).finally(() => {
        this.inFlight -= 1;
        this.pump();
      });
    }
    if (!open) return;
    const stop = this.holding || this.inFlight >= this.maxInFlight || this.waiting.length > 0;
    if (stop && !this.ws.isPaused) this.ws.pause();
    else if (!stop && this.ws.isPaused) this.ws.resume();
  }
}
