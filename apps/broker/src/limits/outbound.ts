import { corkedSend, serverFrame, type ErrorCode } from '@claudemesh/core';
import WebSocket from 'ws';
import type { FrameMeter } from '../metrics/broker-metrics.js';

/**
 * Every byte the broker writes to one WebSocket, before and after hello (challenge, replies,
 * errors, pushes, receipts, topic messages), goes through here and counts against one budget of
 * unsent bytes. A frame is written only while the connection's unsent bytes are within the budget;
 * the first frame beyond it closes the connection as a slow consumer instead. So a connection holds
 * at most the budget plus one frame of broker memory, whatever it asks for and however it reads.
 */
export class Outbound {
  private closing = false;

  constructor(
    readonly ws: WebSocket,
    readonly budgetBytes: number,
    private readonly graceMs: number,
    /** Counts every frame written (claudemesh_frames_total, and error frames' codes). */
    private readonly meter?: FrameMeter,
  ) {}

  get open(): boolean {
    return !this.closing && this.ws.readyState === WebSocket.OPEN;
  }

  /** Bytes written and not yet taken by the kernel. */
  get backlogBytes(): number {
    return this.ws.bufferedAmount;
  }

  /** Writes a frame; false when the connection is closing or has just been closed for its backlog. */
  write(frame: string): boolean {
    if (!this.open) return false;
    if (this.ws.bufferedAmount > this.budgetBytes) {
      this.slowConsumer();
      return false;
    }
    corkedSend(this.ws, frame);
    this.meter?.frameOut(frame);
    return true;
  }

  /** A fatal error frame, then the close. */
  fail(code: ErrorCode, message: string, closeCode: number): void {
    if (this.write(serverFrame('error', { code, message }))) this.close(closeCode, code);
  }

  /**
   * Closes, and destroys the socket if the client has not answered the close within the grace:
   * a refused connection must not keep its socket for ws's 30 s closing handshake.
   */
  close(closeCode: number, reason: string): void {
    if (!this.open) return;
    this.closing = true;
    this.ws.close(closeCode, reason);
    setTimeout(() => this.ws.terminate(), this.graceMs).unref();
  }

  /**
   * The connection does not read what it is sent. Its close frame waits behind the backlog, so past
   * a grace the socket is destroyed, releasing the buffer (ws would wait 30 s for the handshake).
   * Nothing more is read from it meanwhile. Its messages stay queued in the database.
   */
  private slowConsumer(): void {
    this.closing = true;
    const frame = serverFrame('error', { code: 'E_SLOW_CONSUMER', message: 'connection is not reading; reconnect to resume' });
    corkedSend(this.ws, frame);
    this.meter?.frameOut(frame);
    this.ws.close(4008, 'E_SLOW_CONSUMER');
    this.ws.pause();
    setTimeout(() => this.ws.terminate(), this.graceMs).unref();
  }
}
