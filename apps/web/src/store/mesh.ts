import { computed, signal } from '@preact/signals';
import { createApi, type Api } from '../api.js';
import { compareIds } from '../ids.js';
import { startE2e, type E2eState } from '../e2e/keys.js';
import { saveSession } from '../idb.js';
import type { MemberPresence, Notification, Session, TopicInfo, TopicMessage } from '../types.js';
import { Outbox, type Pending } from './outbox.js';
import { Streams } from './streams.js';
import { Timeline } from './timeline.js';

const REFRESH_MS = 30_000;
const READ_DEBOUNCE_MS = 300;
/** How soon a sealed message that did not open is tried again. */
const REOPEN_MS = 30_000;

/** What a mesh store reports to the app: the key stopped working. */
export type OnUnauthorized = (meshId: string, message: string) => void;

/**
 * Everything the app holds for one signed-in mesh: topics with unread counts, timelines, members,
 * unread notifications, the outbox and the live streams. Topics without a stream (beyond
 * MAX_STREAMS) are refreshed with GET /topics every 30 s and when the window gains focus.
 */
export class MeshStore {
  readonly api: Api;
  readonly topics = signal<TopicInfo[]>([]);
  readonly members = signal<MemberPresence[]>([]);
  readonly notifications = signal<Notification[]>([]);
  readonly current = signal<string | null>(null);
  readonly error = signal<string | null>(null);
  readonly streams: Streams;
  readonly outbox: Outbox;
  /** Whether this browser seals and opens the mesh's e2e topics (e2e/keys.ts). */
  readonly e2e = signal<E2eState>({ kind: 'loading' });
  /** Sealed messages opened so far, by id: the text, or null with why not (and when that was found). */
  readonly opened = signal<ReadonlyMap<string, { text: string | null; reason?: string; at?: number }>>(new Map());
  private readonly toOpen = new Map<string, TopicMessage>();
  private openTimer: ReturnType<typeof setTimeout> | null = null;
  readonly unreadTotal = computed(() => this.topics.value.reduce((n, t) => n + (t.joined ? t.unread : 0), 0));
  private readonly timelines = new Map<string, Timeline>();
  private readonly readMarks = new Map<string, string>();
  private readTimer: ReturnType<typeof setTimeout> | null = null;
  private interval: ReturnType<typeof setInterval> | null = null;
  private notesTimer: ReturnType<typeof setTimeout> | null = null;

  constructor(
    readonly session: Session,
    private readonly onUnauthorized: OnUnauthorized,
  ) {
    this.api = createApi(session.api_key);
    this.streams = new Streams(session.api_key, {
      onMessage: (m) => this.receive(m),
      onFatal: (topic, code, message) => {
        if (code === 'E_UNAUTHORIZED' || code === 'E_REVOKED') this.onUnauthorized(session.mesh_id, message || 'this API key no longer works');
        else void this.refreshTopics().then(() => this.syncStreams(), () => undefined);
        this.error.value = `#${topic}: ${message || code}`;
      },
    });
    this.outbox = new Outbox(this.api, (m) => this.receive(m), (p) => this.sealedPost(p));
  }

  get meshId(): string {
    return this.session.mesh_id;
  }

  start(): void {
    void this.refresh();
    void this.startE2e();
    this.interval = setInterval(() => void this.refresh(), REFRESH_MS);
  }

  stop(): void {
    if (this.interval) clearInterval(this.interval);
    if (this.readTimer) clearTimeout(this.readTimer);
    if (this.notesTimer) clearTimeout(this.notesTimer);
    if (this.openTimer) clearTimeout(this.openTimer);
    this.streams.closeAll();
  }

  /** Topics, members and notifications again; on focus, every 30 s, and at start. */
  async refresh(): Promise<void> {
    await Promise.all([this.refreshTopics(), this.refreshMembers(), this.refreshNotifications()]);
    this.syncStreams();
  }

  async refreshTopics(): Promise<void> {
    await this.guard(async () => {
      this.topics.value = await this.api.topics();
    });
  }

  async refreshMembers(): Promise<void> {
    await this.guard(async () => {
      this.members.value = await this.api.members();
    });
  }

  async refreshNotifications(): Promise<void> {
    await this.guard(async () => {
      this.notifications.value = await this.api.notifications({ unread: true, limit: 50 });
    });
  }

  timeline(topic: string): Timeline {
    let t = this.timelines.get(topic);
    if (!t) {
      t = new Timeline(this.api, topic);
      this.timelines.set(topic, t);
    }
    return t;
  }

  topic(name: string): TopicInfo | undefined {
    return this.topics.value.find((t) => t.name === name);
  }

  open(topic: string): void {
    this.current.value = topic;
    this.syncStreams();
  }

  async join(topic: string): Promise<void> {
    await this.guard(async () => {
      const info = await this.api.join(topic);
      this.topics.value = [...this.topics.value.filter((t) => t.name !== topic), info];
      this.syncStreams();
    });
  }

  /** Marks `topic` read up to `messageId` after a short pause (scrolling fires many times). */
  markRead(topic: string, messageId: string): void {
    const done = this.readMarks.get(topic);
    if (done && compareIds(done, messageId) >= 0) return;
    if (this.readTimer) clearTimeout(this.readTimer);
    this.readTimer = setTimeout(() => {
      this.readMarks.set(topic, messageId);
      void this.guard(async () => {
        const res = await this.api.markRead(topic, messageId);
        this.patchTopic(topic, { unread: res.unread });
      });
    }, READ_DEBOUNCE_MS);
  }

  async markNotificationsRead(ids?: string[]): Promise<void> {
    await this.guard(async () => {
      await this.api.markNotificationsRead(ids);
      this.notifications.value = ids ? this.notifications.value.filter((n) => !ids.includes(n.id)) : [];
    });
  }

  /**
   * Finds or claims this browser's key for the member (e2e/keys.ts). A claim changes the member's
   * public key: the session takes the new one, so "mine" and mentions of me stay right.
   */
  private async startE2e(): Promise<void> {
    try {
      const state = await startE2e(this.session.api_key, await this.api.me());
      if (state.kind === 'ready') {
        const me = await this.api.me();
        if (me.member.member_pubkey !== this.session.member.member_pubkey) {
          this.session.member = { ...this.session.member, member_pubkey: me.member.member_pubkey };
          await saveSession(this.session).catch(() => undefined);
          // The member list still shows the placeholder: show the claimed key.
          void this.refreshMembers();
        }
      }
      this.e2e.value = state;
    } catch (error) {
      const e = error as { code?: string; message: string };
      if (e.code === 'E_UNAUTHORIZED' || e.code === 'E_REVOKED') this.onUnauthorized(this.meshId, e.message);
      this.e2e.value = { kind: 'none', why: `this browser could not set up its key: ${e.message}` };
    }
    this.flushOpen();
  }

  /** Asks for a sealed message to be opened; requests within a few milliseconds go as one batch. */
  requestOpen(m: TopicMessage): void {
    if (m.body_version !== 2 || this.toOpen.has(m.id)) return;
    // One that did not open is tried again when shown again, at most every 30 s: a member may have
    // sealed the key to this browser since (a rotation, shared history).
    const done = this.opened.value.get(m.id);
    if (done && (done.text !== null || Date.now() - (done.at ?? 0) < REOPEN_MS)) return;
    this.toOpen.set(m.id, m);
    if (!this.openTimer) this.openTimer = setTimeout(() => this.flushOpen(), 20);
  }

  private flushOpen(): void {
    this.openTimer = null;
    const state = this.e2e.value;
    if (state.kind !== 'ready' || this.toOpen.size === 0) return;
    const batch = [...this.toOpen.values()];
    this.toOpen.clear();
    state.session.open(batch).then(
      (opened) => {
        const next = new Map(this.opened.value);
        const at = Date.now();
        for (const o of opened) next.set(o.id, o.text !== null ? { text: o.text } : { text: null, reason: o.reason ?? 'not opened', at });
        this.opened.value = next;
      },
      (error: Error) => {
        const next = new Map(this.opened.value);
        for (const m of batch) next.set(m.id, { text: null, reason: error.message, at: Date.now() });
        this.opened.value = next;
      },
    );
  }

  /** The members a text's `@name`s name (not me): what a sealed post declares as its mentions. */
  private mentionedKeys(text: string): string[] {
    const names = new Set([...text.matchAll(/(?:^|[^A-Za-z0-9@._-])@([A-Za-z0-9][A-Za-z0-9._-]{0,63})/g)].map((m) => m[1]!.replace(/[._-]+$/, '')));
    return this.members.value.filter((p) => names.has(p.display_name) && p.member_pubkey !== this.session.member.member_pubkey).map((p) => p.member_pubkey);
  }

  /** For an e2e topic, seals and posts in this browser; null for a plaintext topic (the outbox posts it). */
  private sealedPost(p: Pending): Promise<TopicMessage> | null {
    const info = this.topic(p.topic);
    if (info?.encryption !== 'e2e') return null;
    const state = this.e2e.value;
    if (state.kind !== 'ready') return Promise.reject(new Error(state.kind === 'none' ? state.why : 'this browser is still opening its key; retry in a moment'));
    return state.session
      .send(p.topic, p.text, {
        clientId: p.client_id,
        replyTo: p.reply_to,
        mentions: this.mentionedKeys(p.text),
        ...(info.visibility === 'private' ? { topicMembers: async () => (await this.api.topicMembers(p.topic)).map((m) => m.member_pubkey) } : {}),
      })
      .then((sent) => {
        // Sealed by this browser: its text is known, nothing to open.
        this.opened.value = new Map(this.opened.value).set(sent.id, { text: p.text });
        return sent;
      });
  }

  /** The current topic first, then the other joined topics by latest activity. */
  private syncStreams(): void {
    const joined = this.topics.value.filter((t) => t.joined);
    const byActivity = [...joined].sort((a, b) => (b.last_message_at ?? 0) - (a.last_message_at ?? 0)).map((t) => t.name);
    const cur = this.current.value;
    const wanted = cur && joined.some((t) => t.name === cur) ? [cur, ...byActivity.filter((n) => n !== cur)] : byActivity;
    this.streams.want(wanted, (topic) => this.timelines.get(topic)?.newestId() ?? this.topic(topic)?.last_message_id ?? null);
  }

  /** A message from a stream or a post: into its timeline, and counted unread when new and not ours. */
  private receive(m: TopicMessage): void {
    const timeline = this.timelines.get(m.topic);
    const info = this.topic(m.topic);
    const isNew = info ? !info.last_message_id || compareIds(m.id, info.last_message_id) > 0 : false;
    const added = timeline ? timeline.add([m]) : true;
    if (info && isNew) {
      const mine = m.sender.member_pubkey === this.session.member.member_pubkey;
      this.patchTopic(m.topic, { last_message_id: m.id, last_message_at: m.created_at, unread: info.unread + (added && !mine ? 1 : 0) });
    }
    if (m.mentions.includes(this.session.member.member_pubkey) || m.reply_to) this.scheduleNotifications();
  }

  private scheduleNotifications(): void {
    if (this.notesTimer) clearTimeout(this.notesTimer);
    this.notesTimer = setTimeout(() => void this.refreshNotifications(), 500);
  }

  private patchTopic(name: string, patch: Partial<TopicInfo>): void {
    this.topics.value = this.topics.value.map((t) => (t.name === name ? { ...t, ...patch } : t));
  }

  private async guard(op: () => Promise<void>): Promise<void> {
    try {
      await op();
    } catch (error) {
      const e = error as { code?: string; message: string };
      if (e.code === 'E_UNAUTHORIZED' || e.code === 'E_REVOKED') this.onUnauthorized(this.meshId, e.message);
      // Unreachable is not an error to dismiss: the connection indicator says it, and the next refresh retries.
      else if (e.code !== 'E_NETWORK') this.error.value = e.message;
    }
  }
}
