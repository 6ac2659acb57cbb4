/**
 * What one authenticated lane knows of its member's capability grants (§5.5) and shared state
 * (§6.4), to predict the answers to `set_grants`, `list_grants`, `state_set` and `state_get`.
 *
 * Only the lane writes its member's grants and keys (frames name no other member as a grantee, see
 * FrameContext), so both are known between windows: a key absent, at a version, or `unknown` once a
 * reply went missing; a grant row exactly, or as one of the rows written in a window. Within a
 * window frames are handled concurrently (§3.3), so two writes to one slot may land in either
 * order. For state the replies settle it: versions only grow, so a key ends at its highest
 * acknowledged write. For grants the last write wins, so the row is one of those written, until a
 * `list_grants` shows which.
 */
import { DEFAULT_CAPABILITIES, LIMITS, SERVER_FRAME_SCHEMAS, type ClientFrame, type ClientFrameMap, type GrantEntry, type StateEntry } from '@claudemesh/core';
import type { Outcome } from './oracle.js';

export type GrantStateFrame = ClientFrameMap['set_grants'] | ClientFrameMap['list_grants'] | ClientFrameMap['state_set'] | ClientFrameMap['state_get'];

/** The replies one frame may get, a check of its success reply's content, and model hooks. */
export interface ReplyRule {
  outcomes: Outcome[];
  check?: (reply: Record<string, unknown>) => string | null;
  onReply?: (reply: Record<string, unknown>) => void;
  /** The reply cannot be matched to this frame with certainty (another frame shares its ref). */
  onAmbiguous?: () => void;
}

export interface GrantStateOptions {
  /** The lane's member pubkey. */
  self: string;
  /** Every active member pubkey of the mesh, for the whole run. */
  members: ReadonlySet<string>;
  /** Members that never hold keys: they never connect, and nobody may write theirs. */
  keyless: ReadonlySet<string>;
}

interface GrantRow {
  capabilities: string[];
  blocked: boolean;
}

const UNKNOWN = 'unknown';
type Known<T> = T | typeof UNKNOWN;

const STATE_MAX_ENTRIES = 2000;
const canonical = (b64u: string): string => Buffer.from(b64u, 'base64url').toString('base64url');
const sameList = (a: readonly string[], b: readonly string[]): boolean => a.length === b.length && a.every((x, i) => x === b[i]);
const DEFAULTS_SORTED = [...DEFAULT_CAPABILITIES].sort();
const DEFAULT_ROW: GrantRow = { capabilities: DEFAULTS_SORTED, blocked: false };
const sameRow = (a: GrantRow, b: GrantRow): boolean => a.blocked === b.blocked && sameList(a.capabilities, b.capabilities);

/** Decoded length of base64url text, as the broker's lenient decoder counts it. */
export function decodedLength(b64u: string): number {
  return Math.floor((b64u.length * 3) / 4);
}

/** The reply's entries, or null when it does not match its schema (reported on its own). */
function stateEntries(reply: Record<string, unknown>): StateEntry[] | null {
  const parsed = SERVER_FRAME_SCHEMAS.state.safeParse(reply);
  return parsed.success ? parsed.data.entries : null;
}

function grantEntries(reply: Record<string, unknown>): GrantEntry[] | null {
  const parsed = SERVER_FRAME_SCHEMAS.grants.safeParse(reply);
  return parsed.success ? parsed.data.grants : null;
}

/** The answers the protocol allows when nothing is known of the mesh (a lane without a model). */
export function lenientRule(frame: GrantStateFrame): ReplyRule {
  switch (frame.type) {
    case 'set_grants':
      return { outcomes: ['grants', 'E_FORBIDDEN', 'E_UNKNOWN_TARGET'] };
    case 'list_grants':
      return { outcomes: ['grants'] };
    case 'state_set': {
      const short = decodedLength(frame.ciphertext) < 16;
      return { outcomes: [...(short ? [] : (['state'] as const)), 'E_CONFLICT', 'E_FORBIDDEN', 'E_UNKNOWN_TARGET', ...(short ? (['E_SCHEMA'] as const) : [])] };
    }
    case 'state_get':
      return { outcomes: ['state', 'E_UNKNOWN_TARGET'] };
  }
}

export class GrantStateModel {
  /** Own keys that may exist: exact version or unknown. A key not listed does not exist. */
  private readonly versions = new Map<string, Known<number>>();
  /** The rows each peer's grant may be (one: known exactly), or unknown. A peer not listed has the defaults. */
  private readonly grants = new Map<string, Known<GrantRow[]>>();
  // The current window.
  private keyWrites = new Map<string, number>();
  private peerWrites = new Map<string, number>();
  private newKeys = 0;
  private highest = new Map<string, number>();
  private written = new Map<string, GrantRow[]>();
  private dirtyKeys = new Set<string>();

  constructor(private readonly opts: GrantStateOptions) {}

  /** Notes the window's writes before any is sent: they may land in any order. */
  beginWindow(frames: readonly ClientFrame[]): void {
    this.keyWrites = new Map();
    this.peerWrites = new Map();
    this.highest = new Map();
    this.written = new Map();
    this.dirtyKeys = new Set();
    const fresh = new Set<string>();
    for (const f of frames) {
      if (f.type === 'state_set' && this.own(f.owner)) {
        this.keyWrites.set(f.key, (this.keyWrites.get(f.key) ?? 0) + 1);
        if (f.version === 1 && !this.versions.has(f.key)) fresh.add(f.key);
      } else if (f.type === 'set_grants' && f.peer !== this.opts.self && this.opts.members.has(f.peer)) {
        this.peerWrites.set(f.peer, (this.peerWrites.get(f.peer) ?? 0) + 1);
      }
    }
    this.newKeys = fresh.size;
  }

  /** Settles the window: `complete` when every expected reply arrived on an open connection. */
  endWindow(complete: boolean): void {
    for (const key of this.keyWrites.keys()) {
      const top = this.highest.get(key);
      if (!complete || this.dirtyKeys.has(key)) this.versions.set(key, UNKNOWN);
      else if (top !== undefined) this.versions.set(key, Math.max(top, this.exactVersion(key) ?? 0));
    }
    for (const peer of this.peerWrites.keys()) {
      const rows = this.written.get(peer) ?? [];
      if (!complete) this.grants.set(peer, UNKNOWN);
      else if (rows.length > 0) this.setCandidates(peer, rows);
    }
  }

  expect(frame: GrantStateFrame): ReplyRule {
    switch (frame.type) {
      case 'set_grants':
        return this.setGrants(frame);
      case 'list_grants':
        return { outcomes: ['grants'], check: (reply) => this.checkGrantList(reply), onReply: (reply) => this.learnGrantList(reply) };
      case 'state_set':
        return this.stateSet(frame);
      case 'state_get':
        if (frame.owner !== undefined && !this.opts.members.has(frame.owner)) return { outcomes: ['E_UNKNOWN_TARGET'] };
        return { outcomes: ['state'], check: (reply) => this.checkStateGet(frame, reply) };
    }
  }

  private own(owner: string | undefined): boolean {
    return owner === undefined || owner === this.opts.self;
  }

  private setCandidates(peer: string, rows: GrantRow[]): void {
    const distinct = rows.filter((row, i) => rows.findIndex((r) => sameRow(r, row)) === i);
    if (distinct.length === 1 && sameRow(distinct[0]!, DEFAULT_ROW)) this.grants.delete(peer);
    else this.grants.set(peer, distinct);
  }

  /** Peers whose row a list_grants of this window shows as it is: known, and not written meanwhile. */
  private listable(): Array<[peer: string, candidates: GrantRow[]]> {
    const out: Array<[string, GrantRow[]]> = [];
    for (const peer of this.opts.members) {
      const candidates = this.grants.get(peer) ?? [DEFAULT_ROW];
      if (peer !== this.opts.self && !this.peerWrites.has(peer) && candidates !== UNKNOWN) out.push([peer, candidates]);
    }
    return out;
  }

  private exactVersion(key: string): number | null {
    const v = this.versions.get(key);
    return v === UNKNOWN ? null : (v ?? 0);
  }

  private setGrants(frame: ClientFrameMap['set_grants']): ReplyRule {
    if (frame.peer === this.opts.self) return { outcomes: ['E_FORBIDDEN'] };
    if (!this.opts.members.has(frame.peer)) return { outcomes: ['E_UNKNOWN_TARGET'] };
    const want: GrantRow = { capabilities: frame.blocked ? [] : [...frame.capabilities].sort(), blocked: frame.blocked };
    return {
      outcomes: ['grants'],
      check: (reply) => {
        const grants = grantEntries(reply);
        if (!grants) return null;
        const g = grants[0];
        if (grants.length !== 1 || !g) return `set_grants answered with ${grants.length} rows, expected the one written`;
        if (g.peer !== frame.peer || g.blocked !== want.blocked || !sameList(g.capabilities, want.capabilities))
          return `set_grants stored ${JSON.stringify(g)}, expected peer ${frame.peer.slice(0, 8)}… ${JSON.stringify(want)}`;
        return null;
      },
      onReply: () => this.written.set(frame.peer, [...(this.written.get(frame.peer) ?? []), want]),
      // A write to a member succeeds; whose reply is whose is all that is unknown.
      onAmbiguous: () => this.written.set(frame.peer, [...(this.written.get(frame.peer) ?? []), want]),
    };
  }

  private checkGrantList(reply: Record<string, unknown>): string | null {
    const grants = grantEntries(reply);
    if (!grants) return null;
    const seen = new Set<string>();
    for (const g of grants) {
      if (seen.has(g.peer)) return `list_grants lists ${g.peer.slice(0, 8)}… twice`;
      seen.add(g.peer);
      if (g.peer === this.opts.self || !this.opts.members.has(g.peer)) return `list_grants lists ${g.peer.slice(0, 8)}…, not another member`;
      if (g.blocked && g.capabilities.length > 0) return `a blocked row holds capabilities ${g.capabilities.join(',')}`;
      if (!sameList(g.capabilities, [...new Set(g.capabilities)].sort())) return `capabilities not sorted and unique: ${g.capabilities.join(',')}`;
      if (!g.blocked && sameList(g.capabilities, DEFAULTS_SORTED)) return 'list_grants lists a row equal to the defaults';
    }
    // A row not written in this window is listed as it was last set (or as one of the rows last written).
    for (const [peer, candidates] of this.listable()) {
      const listed = grants.find((g) => g.peer === peer) ?? DEFAULT_ROW;
      if (!candidates.some((row) => sameRow(row, listed)))
        return `list_grants shows ${peer.slice(0, 8)}… as ${JSON.stringify({ capabilities: listed.capabilities, blocked: listed.blocked })}, it was set to ${candidates.map((r) => JSON.stringify(r)).join(' or ')}`;
    }
    return null;
  }

  private learnGrantList(reply: Record<string, unknown>): void {
    const grants = grantEntries(reply);
    if (!grants) return;
    for (const [peer] of this.listable()) {
      const listed = grants.find((g) => g.peer === peer);
      this.setCandidates(peer, [listed ? { capabilities: listed.capabilities, blocked: listed.blocked } : DEFAULT_ROW]);
    }
  }

  private stateSet(frame: ClientFrameMap['state_set']): ReplyRule {
    const bytes = decodedLength(frame.ciphertext);
    const badSize = bytes < 16 || bytes > LIMITS.maxStateValueBytes + 16;
    if (!this.own(frame.owner)) {
      // Nobody grants the lane state-write, so another member's key is refused (§5.5).
      const refusal = this.opts.members.has(frame.owner!) ? 'E_FORBIDDEN' : 'E_UNKNOWN_TARGET';
      return { outcomes: [refusal, ...(badSize ? (['E_SCHEMA'] as const) : [])] };
    }
    const current = this.exactVersion(frame.key);
    const contested = (this.keyWrites.get(frame.key) ?? 0) > 1;
    const conflict: boolean | null = current === null || contested ? null : frame.version !== current + 1;
    const full: boolean | null = frame.version === 1 && this.versions.size + this.newKeys >= LIMITS.maxStateKeysPerOwner ? null : false;
    const outcomes: Outcome[] = [];
    if (badSize) outcomes.push('E_SCHEMA');
    if (conflict !== false) outcomes.push('E_CONFLICT');
    if (full !== false) outcomes.push('E_FORBIDDEN');
    if (!badSize && conflict !== true) outcomes.push('state');
    const self = this.opts.self;
    return {
      outcomes,
      check: (reply) => {
        const entries = stateEntries(reply);
        if (!entries) return null;
        const e = entries[0];
        if (entries.length !== 1 || !e) return `state_set answered with ${entries.length} entries, expected the one written`;
        if (e.owner !== self || e.key !== frame.key || e.version !== frame.version || e.updated_by !== self)
          return `state_set wrote ${e.owner.slice(0, 8)}…/${e.key} v${e.version} by ${e.updated_by.slice(0, 8)}…, expected own ${frame.key} v${frame.version}`;
        if (e.nonce !== canonical(frame.nonce) || e.ciphertext !== canonical(frame.ciphertext)) return `state_set of ${frame.key} v${frame.version} stored other bytes than sent`;
        return null;
      },
      onReply: () => this.highest.set(frame.key, Math.max(this.highest.get(frame.key) ?? 0, frame.version)),
      onAmbiguous: () => this.dirtyKeys.add(frame.key),
    };
  }

  private checkStateGet(frame: ClientFrameMap['state_get'], reply: Record<string, unknown>): string | null {
    const entries = stateEntries(reply);
    if (!entries) return null;
    if (entries.length > STATE_MAX_ENTRIES) return `state_get returned ${entries.length} entries, more than ${STATE_MAX_ENTRIES}`;
    const self = this.opts.self;
    const seen = new Set<string>();
    const owners: string[] = [];
    for (const e of entries) {
      const slot = `${e.owner}/${e.key}`;
      if (seen.has(slot)) return `state_get returned ${slot} twice`;
      seen.add(slot);
      if (owners.at(-1) !== e.owner) {
        if (owners.includes(e.owner)) return `state_get entries are not grouped by owner (${e.owner.slice(0, 8)}… again)`;
        owners.push(e.owner);
      }
      if (frame.owner !== undefined && e.owner !== frame.owner) return `state_get for owner ${frame.owner.slice(0, 8)}… returned ${e.owner.slice(0, 8)}…'s ${e.key}`;
      if (frame.key !== undefined && e.key !== frame.key) return `state_get for key ${frame.key} returned ${e.key}`;
      if (!this.opts.members.has(e.owner) || this.opts.keyless.has(e.owner)) return `state_get returned a key of ${e.owner.slice(0, 8)}…, who holds none`;
      if (e.owner === self && !this.keyWrites.has(e.key)) {
        const v = this.exactVersion(e.key);
        if (v === 0) return `state_get returned own key ${e.key}, never written`;
        if (v !== null && v !== e.version) return `state_get returned own ${e.key} at v${e.version}, it is at v${v}`;
      }
    }
    // Read your own writes: own keys known exactly and not written in this window are all there.
    if (this.own(frame.owner)) {
      if (entries.length >= STATE_MAX_ENTRIES) return null;
      for (const [key, v] of this.versions) {
        if (v === UNKNOWN || this.keyWrites.has(key) || (frame.key !== undefined && key !== frame.key)) continue;
        if (!seen.has(`${self}/${key}`)) return `state_get left out own ${key} (v${v})`;
      }
    }
    return null;
  }
}
