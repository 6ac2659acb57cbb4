import type { PeerStatus, PeerType } from '@claudemesh/core';
import { corkedSend, serverFrame, type ErrorCode } from '@claudemesh/core';
import WebSocket from 'ws';
import type { MemberRecord, MeshState } from '../meshes/mesh-directory.js';

/** Above this many unsent bytes a connection is a slow consumer: it is closed, its messages stay queued. */
export const SEND_HIGH_WATER_BYTES = 8 * 1024 * 1024;
/** Live pushes held while the offline queue drains; beyond this the drain simply runs another round. */
const MAX_HELD_PUSHES = 10_000;
/** The same, in bytes: a drain that waits on a slow reader must not pile up large pushes in memory. */
const MAX_HELD_BYTES = SEND_HIGH_WATER_BYTES;
/**
 * A slow consumer's close frame waits behind megabytes it does not read; past this grace the socket
 * is destroyed, releasing its buffer (ws would otherwise wait 30 s for the closing handshake).
 */
const SLOW_CONSUMER_CLOSE_GRACE_MS = 1_000;

/**
 * One authenticated connection. Pushes are written in message-id order exactly once per session:
 * while the offline queue drains, live pushes are held and released after it, skipping any the
 * drain already sent.
 */
export class LiveSession {
  status: PeerStatus = 'idle';
  summary = '';
  readonly connectedAt = Date.now();
  /** Highest message id written to this connection. */
  private cursor = 0n;
  private draining = true;
  private held: Array<{ id: bigint; frame: string }> = [];
  private heldBytes = 0;
  heldOverflow = false;
  /** Receipts that arrive before hello_ack is written wait here, so hello_ack is always first. */
  private beforeAck: string[] | null = [];
  unsubscribe: () => void = () => undefined;
  /** Stops the attestation-expiry timer (set after hello_ack). */
  cancelExpiry: () => void = () => undefined;

  constructor(
    readonly id: string,
    readonly ws: WebSocket,
    readonly state: MeshState,
    readonly member: MemberRecord,
    readonly sessionPubkey: string,
    readonly peerType: PeerType,
  ) {}

  get meshId(): string {
    return this.state.mesh.id;
  }

  get open(): boolean {
    return this.ws.readyState === WebSocket.OPEN;
  }

  get drainCursor(): bigint {
    return this.cursor;
  }

  /** A message committed after this session connected. */
  pushLive(messageId: string, frame: string): void {
    const id = BigInt(messageId);
    if (this.draining) {
      if (this.held.length < MAX_HELD_PUSHES && this.heldBytes < MAX_HELD_BYTES) {
        this.held.push({ id, frame });
        this.heldBytes += frame.length;
      } else this.heldOverflow = true;
      return;
    }
    this.write(id, frame);
  }

  /** A page of the offline queue, in id order. */
  pushQueued(messageId: string, frame: string): void {
    this.write(BigInt(messageId), frame);
  }

  /** Ends the drain: held pushes newer than what the drain wrote go out in order. */
  finishDrain(): void {
    const held = this.held.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    this.held = [];
    this.heldBytes = 0;
    this.draining = false;
    for (const { id, frame } of held) this.write(id, frame);
  }

  /** Re-enters drain mode (after an overflow of held pushes). */
  restartDrain(): void {
    this.draining = true;
    this.heldOverflow = false;
    // Every held push is committed and still queued: the next round reads them from the database.
    this.held = [];
    this.heldBytes = 0;
  }

  /** Writes hello_ack, then anything that was waiting for it. */
  acknowledge(helloAck: string): void {
    this.send(helloAck);
    const waiting = this.beforeAck ?? [];
    this.beforeAck = null;
    for (const frame of waiting) this.send(frame);
  }

  /** A control frame (receipt) from the bus. */
  pushControl(frame: string): void {
    if (this.beforeAck) this.beforeAck.push(frame);
    else this.send(frame);
  }

  get backlogBytes(): number {
    return this.ws.bufferedAmount;
  }

  send(frame: string): void {
    if (this.open) corkedSend(this.ws, frame);
  }

  fail(code: ErrorCode, message: string, closeCode = 4000): void {
    this.send(serverFrame('error', { code, message }));
    this.ws.close(closeCode, code);
  }

  private write(id: bigint, frame: string): void {
    if (id <= this.cursor || !this.open) return;
    this.cursor = id;
    corkedSend(this.ws, frame);
    if (this.ws.bufferedAmount > SEND_HIGH_WATER_BYTES) {
      // The messages stay queued in the database; the client reconnects and drains at its pace.
      this.fail('E_SLOW_CONSUMER', 'connection is not reading; reconnect to resume', 4008);
      setTimeout(() => this.ws.terminate(), SLOW_CONSUMER_CLOSE_GRACE_MS).unref();
    }
  }
}
