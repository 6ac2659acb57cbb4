import { Inject, Injectable, type OnModuleDestroy } from '@nestjs/common';
import type { ClientFrameType } from '@claudemesh/core';
import { BROKER_CONFIG, type BrokerConfig } from '../config/broker.config.js';
import { RATE_BURST_SECONDS, type LimitSettings } from './limits.config.js';
import { TokenBucket } from './token-bucket.js';

/**
 * Frames whose handling costs a database query of its own (sends and confirmations are batched).
 * Epoch frames are among them: a publish also verifies a signature per seal and a manifest of up to
 * EPOCH_LIMITS.maxMembers keys, and every epoch adds rows that are kept.
 */
export const COSTLY_FRAMES: ReadonlySet<ClientFrameType> = new Set<ClientFrameType>([
  'list_peers',
  'message_status',
  'topic_history',
  'state_get',
  'state_set',
  'set_grants',
  'join_group',
  'leave_group',
  'epoch_publish',
  'epoch_get',
  'epoch_seal',
]);

/**
 * Confirmations are counted but never refused: they carry no id to answer, and refusing one only
 * makes the broker push its messages again. The bound on frames in flight paces them instead.
 */
export const NEVER_REFUSED: ReadonlySet<ClientFrameType> = new Set<ClientFrameType>(['delivered', 'read']);

/** Member buckets are forgotten once full (a full bucket is a fresh one); checked this often. */
const SWEEP_MS = 60_000;

const bucket = (ratePerS: number, now: number): TokenBucket | null => (ratePerS > 0 ? new TokenBucket(ratePerS, ratePerS * RATE_BURST_SECONDS, now) : null);

/** Frames, bytes and costly frames of one connection or one member. */
export class RateBuckets {
  private readonly frames: TokenBucket | null;
  private readonly bytes: TokenBucket | null;
  private readonly costly: TokenBucket | null;

  constructor(rates: { frames: number; bytes: number; costly: number }, now: number) {
    this.frames = bucket(rates.frames, now);
    this.bytes = bucket(rates.bytes, now);
    this.costly = bucket(rates.costly, now);
  }

  waitMs(bytes: number, costly: boolean, now: number): number {
    return Math.max(this.frames?.waitMs(1, now) ?? 0, this.bytes?.waitMs(bytes, now) ?? 0, costly ? (this.costly?.waitMs(1, now) ?? 0) : 0);
  }

  take(bytes: number, costly: boolean, now: number): void {
    this.frames?.take(1, now);
    this.bytes?.take(bytes, now);
    if (costly) this.costly?.take(1, now);
  }

  isFull(now: number): boolean {
    return (this.frames?.isFull(now) ?? true) && (this.bytes?.isFull(now) ?? true) && (this.costly?.isFull(now) ?? true);
  }
}

/**
 * Per-connection and per-member token buckets (docs/protocol.md §1.2). A member's buckets are
 * shared by all its connections to this broker node.
 */
@Injectable()
export class RateLimiter implements OnModuleDestroy {
  private readonly limits: LimitSettings;
  private readonly members = new Map<string, RateBuckets>();
  private readonly sweeper: NodeJS.Timeout;

  constructor(@Inject(BROKER_CONFIG) config: BrokerConfig) {
    this.limits = config.limits;
    this.sweeper = setInterval(() => this.sweep(), SWEEP_MS).unref();
  }

  onModuleDestroy(): void {
    clearInterval(this.sweeper);
  }

  forConnection(): RateBuckets {
    const l = this.limits;
    return new RateBuckets({ frames: l.connFramesPerS, bytes: l.connBytesPerS, costly: l.connCostlyPerS }, performance.now());
  }

  /**
   * Takes a frame's cost from its connection's and member's buckets and answers 0, or, when one of
   * them is short, takes nothing and answers how many ms to wait. `force` takes without refusing.
   */
  admit(conn: RateBuckets, memberId: string, frame: { bytes: number; costly: boolean; force: boolean }): number {
    const now = performance.now();
    const member = this.member(memberId, now);
    if (!frame.force) {
      const wait = Math.max(conn.waitMs(frame.bytes, frame.costly, now), member.waitMs(frame.bytes, frame.costly, now));
      if (wait > 0) return wait;
    }
    conn.take(frame.bytes, frame.costly, now);
    member.take(frame.bytes, frame.costly, now);
    return 0;
  }

  /**
   * A REST request doing what a frame does (the epoch routes): counted in its member's buckets,
   * shared with the member's WebSocket sessions, so REST is no way around the frame limits. 0 or
   * the ms to wait, as admit.
   */
  admitMember(memberId: string, request: { bytes: number; costly: boolean }): number {
    const now = performance.now();
    const member = this.member(memberId, now);
    const wait = member.waitMs(request.bytes, request.costly, now);
    if (wait > 0) return wait;
    member.take(request.bytes, request.costly, now);
    return 0;
  }

  private member(memberId: string, now: number): RateBuckets {
    let member = this.members.get(memberId);
    if (!member) {
      const l = this.limits;
      this.members.set(memberId, (member = new RateBuckets({ frames: l.memberFramesPerS, bytes: l.memberBytesPerS, costly: l.memberCostlyPerS }, now)));
    }
    return member;
  }

  private sweep(): void {
    const now = performance.now();
    for (const [id, buckets] of this.members) if (buckets.isFull(now)) this.members.delete(id);
  }
}
