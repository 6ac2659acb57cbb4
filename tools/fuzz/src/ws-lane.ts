/**
 * Raw WebSocket connections that pipeline generated frames and account for every reply: each frame
 * registers the replies it may get (oracle.ts); each reply must match one of them by ref and outcome.
 * Replies that match nothing, replies that never come and unexpected closes are violations.
 */
import WebSocket from 'ws';
import { isErrorCode } from '@claudemesh/core';
import type { Findings } from './findings.js';
import type { GrantStateModel } from './grant-state-model.js';
import {
  checkServerFrame,
  classifyFrame,
  excerpt,
  expectReply,
  noteStorable,
  replyKey,
  selfCheck,
  widenAmbiguous,
  UNSOLICITED_FRAME_TYPES,
  type ConnState,
  type Expectation,
  type Outcome,
  type SendModel,
} from './oracle.js';
import type { FrameCase } from './frames.js';

/** The broker closes an unauthenticated connection after 10 s (§1.2); lanes reopen well before that. */
export const HELLO_DEADLINE_MS = 10_000;

export class RawConn {
  readonly openedAt = Date.now();
  challenge: string | null = null;
  closed: { code: number; reason: string } | null = null;
  onFrame: (frame: Record<string, unknown>, raw: string) => void = () => undefined;
  onClose: (code: number, reason: string) => void = () => undefined;
  private waiters: Array<() => void> = [];

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data: Buffer) => {
      const raw = data.toString('utf8');
      let frame: Record<string, unknown>;
      try {
        frame = JSON.parse(raw) as Record<string, unknown>;
      } catch {
        frame = { type: '<not json>', raw };
      }
      if (frame['type'] === 'challenge' && this.challenge === null) this.challenge = String(frame['nonce']);
      this.onFrame(frame, raw);
      this.wake();
    });
    ws.on('close', (code, reason) => {
      this.closed = { code, reason: reason.toString() };
      this.onClose(code, reason.toString());
      this.wake();
    });
    ws.on('error', () => undefined);
  }

  /** Opens a connection and waits for its challenge. */
  static async open(url: string, timeoutMs = 10_000): Promise<RawConn> {
    const ws = new WebSocket(url, { maxPayload: 64 * 1024 * 1024, perMessageDeflate: false });
    const conn = new RawConn(ws);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no WebSocket open within ${timeoutMs} ms`)), timeoutMs);
      ws.once('open', () => {
        clearTimeout(timer);
        resolve();
      });
      ws.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
    });
    if (!(await conn.until(() => conn.challenge !== null, timeoutMs))) throw new Error('no challenge frame');
    return conn;
  }

  send(data: string | Uint8Array, binary = typeof data !== 'string', fin = true): void {
    if (this.ws.readyState !== WebSocket.OPEN) return;
    this.ws.send(data, { binary, fin });
  }

  /** Resolves true once `predicate` holds (checked after every frame or close), false on timeout. */
  async until(predicate: () => boolean, timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (!predicate()) {
      const left = deadline - Date.now();
      if (left <= 0) return false;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 250));
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return true;
  }

  get age(): number {
    return Date.now() - this.openedAt;
  }

  close(): void {
    if (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING) this.ws.close(1000);
  }

  terminate(): void {
    this.ws.terminate();
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }
}

/** What an authenticated lane needs to predict send outcomes. */
export class MeshModel implements SendModel {
  private readonly stored = new Set<string>();

  constructor(
    private readonly knownTargets: ReadonlySet<string>,
    private readonly knownGroups: ReadonlySet<string>,
    /** The mesh's e2e topics beside #general (FrameContext.e2eTopics). */
    private readonly e2eTopics: ReadonlySet<string> = new Set(),
  ) {}

  topicMode(topic: string): 'plaintext' | 'e2e' | 'missing' {
    return topic === 'general' ? 'plaintext' : this.e2eTopics.has(topic) ? 'e2e' : 'missing';
  }

  target(to: string): 'known' | 'unknown' | 'maybe' {
    if (to === '*' || this.knownTargets.has(to) || this.knownGroups.has(to)) return 'known';
    if (to.startsWith('@')) return to.startsWith('@zz') ? 'unknown' : 'maybe';
    if (to.startsWith('zz') || /^[0-9a-f]{64}$/.test(to)) return 'unknown';
    return 'maybe';
  }

  mayBeStored(id: string): boolean {
    return this.stored.has(id);
  }

  noteSent(id: string): void {
    this.stored.add(id);
  }
}

export interface LaneOptions {
  name: string;
  findings: Findings;
  /** Opens (and for authenticated lanes, authenticates) a fresh connection. */
  connect: () => Promise<RawConn>;
  authenticated: boolean;
  model: SendModel;
  /** The lane member's grants and shared state (authenticated lanes that own their member). */
  grantState?: GrantStateModel;
  replyTimeoutMs: number;
  /** Confirm pushes with `delivered`, like a real client, so offline queues stay short. */
  confirmPushes: boolean;
  /** The broker runs with tiny rate limits: E_RATE_LIMITED may answer any frame (oracle.ts). */
  rateLimited?: boolean;
}

/** One pipelining connection (reopened after an unexpected close). */
export class FrameLane {
  private conn: RawConn | null = null;
  private outstanding: Expectation[] = [];
  /** Possible refusals of earlier windows' frames that expect no reply (rate-limited lanes). */
  private readonly lateRefusals: Expectation[] = [];
  private toConfirm: string[] = [];
  private expectingClose = false;
  skipped = 0;

  constructor(private readonly opts: LaneOptions) {}

  private get state(): ConnState {
    return {
      authenticated: this.opts.authenticated,
      model: this.opts.model,
      ...(this.opts.grantState ? { grantState: this.opts.grantState } : {}),
      ...(this.opts.rateLimited ? { rateLimited: true } : {}),
    };
  }

  private async ensureOpen(): Promise<RawConn> {
    // Unauthenticated connections are refreshed before the broker's hello deadline.
    if (this.conn && !this.conn.closed && !(this.opts.authenticated === false && this.conn.age > HELLO_DEADLINE_MS / 2)) return this.conn;
    if (this.conn && !this.conn.closed) {
      this.expectingClose = true;
      this.conn.close();
    }
    const conn = await this.opts.connect();
    this.expectingClose = false;
    this.opts.findings.connections++;
    conn.onFrame = (frame) => this.onFrame(conn, frame);
    conn.onClose = (code, reason) => {
      if (conn !== this.conn || this.expectingClose) return;
      this.opts.findings.violation('unexpected-close', `${this.opts.name}: connection closed with ${code} ${reason}`, this.lastSent);
      this.outstanding = [];
    };
    this.conn = conn;
    return conn;
  }

  private lastSent = '';

  private onFrame(conn: RawConn, frame: Record<string, unknown>): void {
    const { findings } = this.opts;
    const type = frame['type'];
    if (type === 'challenge' || type === 'hello_ack') return;
    const bad = checkServerFrame(frame);
    if (UNSOLICITED_FRAME_TYPES.has(String(type))) {
      findings.pushes++;
      if (bad) findings.violation('bad-server-frame', `${this.opts.name}: ${bad}`, JSON.stringify(frame).slice(0, 200));
      if (type === 'push' && this.opts.confirmPushes) this.toConfirm.push(String(frame['message_id']));
      return;
    }
    findings.replies++;
    // The hello deadline (§1.2): E_NOT_AUTHENTICATED without ref, then close 4001.
    if (!this.opts.authenticated && frame['code'] === 'E_NOT_AUTHENTICATED' && frame['ref'] === undefined && conn.age >= HELLO_DEADLINE_MS - 500) {
      this.expectingClose = true;
      return;
    }
    if (bad) findings.violation('bad-server-frame', `${this.opts.name}: ${bad}`, JSON.stringify(frame).slice(0, 200));
    const { outcome, ref } = replyKey(frame);
    // A reply that must come is matched before one that may (a refusal of a frame that expects none).
    const matches = (e: Expectation) => e.outcomes.includes(outcome as Outcome) && e.refs.includes(ref);
    let i = this.outstanding.findIndex((e) => !e.optional && matches(e));
    if (i < 0) i = this.outstanding.findIndex(matches);
    if (i >= 0) {
      const [e] = this.outstanding.splice(i, 1);
      findings.countOutcome(outcome);
      if (!isErrorCode(outcome) && !bad) {
        const wrong = e!.check?.(frame);
        if (wrong) findings.violation('wrong-reply-content', `${this.opts.name}: ${wrong}`, `${e!.label}: ${e!.excerpt}`);
        else e!.onReply?.(frame);
      }
      return;
    }
    const late = this.lateRefusals.findIndex(matches);
    if (late >= 0) {
      this.lateRefusals.splice(late, 1);
      findings.countOutcome(outcome);
      return;
    }
    const sameRef = this.outstanding.filter((e) => e.refs.includes(ref));
    const message = typeof frame['message'] === 'string' ? ` (${frame['message']})` : '';
    findings.violation(
      outcome === 'E_INTERNAL' || outcome === 'E_UNAVAILABLE' ? 'internal-error' : 'unexpected-reply',
      `${this.opts.name}: got ${outcome}${ref !== undefined ? ` ref=${JSON.stringify(ref).slice(0, 70)}` : ''}${message}; expected ${
        sameRef.length > 0 ? sameRef.map((e) => e.outcomes.join('|')).join(' or ') : 'no reply with this ref'
      }`,
      sameRef[0] ? `${sameRef[0].label}: ${sameRef[0].excerpt}` : `last sent: ${this.lastSent}`,
    );
  }

  /** Sends a window of cases back to back, then waits until every expected reply has arrived. */
  async runWindow(cases: FrameCase[]): Promise<number> {
    const { findings } = this.opts;
    const conn = await this.ensureOpen();
    let sent = 0;
    const classifiedCases = cases.map((c) => ({ c, classified: classifyFrame(c.data) }));
    for (const { classified } of classifiedCases) noteStorable(classified, this.state);
    if (this.opts.authenticated) this.opts.grantState?.beginWindow(classifiedCases.flatMap(({ classified }) => (classified.ok ? [classified.frame] : [])));
    const toSend: Array<{ c: FrameCase; expectation: Expectation | null }> = [];
    for (const { c, classified } of classifiedCases) {
      const disagreement = selfCheck(c, classified);
      if (disagreement) findings.violation('oracle-disagreement', disagreement, excerpt(c.data));
      // A schema-valid hello on an unauthenticated connection is taken up and ends it (hello lane's job).
      if (!this.opts.authenticated && classified.ok && classified.frame.type === 'hello') {
        this.skipped++;
        continue;
      }
      toSend.push({ c, expectation: expectReply(classified, this.state, c.label, c.data) });
    }
    const expectations = toSend.flatMap(({ expectation }) => (expectation ? [expectation] : []));
    widenAmbiguous(expectations);
    this.outstanding.push(...expectations);
    for (const { c } of toSend) {
      this.lastSent = `${c.label}: ${excerpt(c.data)}`;
      conn.send(c.data, c.binary);
      findings.frames++;
      findings.countLabel(c.label);
      sent++;
    }
    this.flushConfirmations(conn);
    const done = await conn.until(() => this.outstanding.every((e) => e.optional) || conn.closed !== null, this.opts.replyTimeoutMs);
    // Refusals that have not come: those frames were handled and answered nothing, or are refused
    // after the window's last reply (a late refusal still matches one of them).
    if (done) {
      this.lateRefusals.push(...this.outstanding.filter((e) => e.optional));
      this.lateRefusals.splice(0, Math.max(0, this.lateRefusals.length - 1_000));
      this.outstanding = [];
    }
    this.opts.grantState?.endWindow(done && conn.closed === null && this.conn === conn);
    if (!done) {
      for (const e of this.outstanding.filter((o) => !o.optional).slice(0, 3)) {
        findings.violation(
          'no-reply',
          `${this.opts.name}: no ${e.outcomes.join('|')} within ${this.opts.replyTimeoutMs} ms (${this.outstanding.length} outstanding)`,
          `${e.label}: ${e.excerpt}`,
        );
      }
      this.outstanding = [];
    }
    return sent;
  }

  private flushConfirmations(conn: RawConn): void {
    while (this.toConfirm.length > 0) {
      conn.send(JSON.stringify({ type: 'delivered', message_ids: this.toConfirm.splice(0, 500) }));
    }
  }

  /** Lets late replies (errors for frames that expect none) arrive, then closes. */
  async finish(quietMs: number): Promise<void> {
    const conn = this.conn;
    if (!conn) return;
    this.flushConfirmations(conn);
    await new Promise((r) => setTimeout(r, quietMs));
    await conn.until(() => this.outstanding.every((e) => e.optional), this.opts.replyTimeoutMs);
    this.expectingClose = true;
    conn.close();
  }
}
