import type { PeerStatus, PeerType } from '@claudemesh/core';
import type { ErrorCode } from '@claudemesh/core';
import type WebSocket from 'ws';
import type { Outbound } from '../limits/outbound.js';
import type { MemberRecord, MeshState } from '../meshes/mesh-directory.js';
import { JoinedTopics } from '../topics/joined-topics.js';

/** Live pushes held while the offline queue drains; beyond this the drain simply runs another round. */
const MAX_HELD_PUSHES = 10_000;
/** The drain waits for the socket to flush below this before writing the next push (or half the budget, if less). */
const DRAIN_LOW_WATER_BYTES = 1024 * 1024;

/**
 * One authenticated connection. Pushes are written in message-id order exactly once per session:
 * while the offline queue drains, live pushes are held and released after it, skipping any the
 * drain already sent.
 */
export class LiveSession {
  status: PeerStatus = 'idle';
  summary = '';
  /** What this session advertises for tag routing (set_tags, §5.7). */
  tags: readonly string[] = [];
  readonly connectedAt = Date.now();
  /** Highest message id written to this connection. */
  private cursor = 0n;
  private draining = true;
  private held: Array<{ id: bigint; frame: string }> = [];
  private heldBytes = 0;
  heldOverflow = false;
  /** Receipts that arrive before hello_ack is written wait here, so hello_ack is always first. */
  private beforeAck: string[] | null = [];
  /** The topics this connection's member joined, as its posts found them (JoinedTopics; forgotten on `topic_left`). */
  readonly joinedTopics = new JoinedTopics();
  unsubscribe: () => void = () => undefined;
  /** Stops the attestation-expiry timer (set after hello_ack). */
  cancelExpiry: () => void = () => undefined;

  constructor(
    readonly id: string,
    /** Every write goes through the connection's outbound budget (slow consumers are closed there). */
    private readonly out: Outbound,
    readonly state: MeshState,
    readonly member: MemberRecord,
    readonly sessionPubkey: string,
    readonly peerType: PeerType,
  ) {}

  get meshId(): string {
    return this.state.mesh.id;
  }

  get open(): boolean {
    return this.out.open;
  }

  /** The socket itself, for tests that cut it from the broker's side. */
  get ws(): WebSocket {
    return this.out.ws;
  }

  get drainCursor(): bigint {
    return this.cursor;
  }

  /** A message committed after this session connected. */
  pushLive(messageId: string, frame: string): void {
    const id = BigInt(messageId);
    if (this.draining) {
      // In bytes too: a drain that waits on a slow reader must not pile up large pushes in memory.
      if (this.held.length < MAX_HELD_PUSHES && this.heldBytes < this.out.budgetBytes) {
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

  /** Whether the drain should wait for the client to read before its next push. */
  get backlogged(): boolean {
    return this.out.backlogBytes > Math.min(DRAIN_LOW_WATER_BYTES, this.out.budgetBytes / 2);
  }

  send(frame: string): void {
    this.out.write(frame);
  }

  fail(code: ErrorCode, message: string, closeCode = 4000): void {
    this.out.fail(code, message, closeCode);
  }

  private write(id: bigint, frame: string): void {
    if (id <= this.cursor || !this.open) return;
    // A push the budget refuses is not counted as written: the connection is closing, and the
    // message stays queued in the database for the next one.
    if (this.out.write(frame)) this.cursor = id;
  }
}
