import { computed, signal } from '@preact/signals';
import { createApi, type Api } from '../api.js';
import { compareIds } from '../ids.js';
import type { MemberPresence, Notification, Session, TopicInfo, TopicMessage } from '../types.js';
import { Outbox } from './outbox.js';
import { Streams } from './streams.js';
import { Timeline } from './timeline.js';

const REFRESH_MS = 30_000;
const READ_DEBOUNCE_MS = 300;

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
    this.outbox = new Outbox(this.api, (m) => this.receive(m));
  }

  get meshId(): string {
    return this.session.mesh_id;
  }

  start(): void {
    void this.refresh();
    this.interval = setInterval(() => void this.refresh(), REFRESH_MS);
  }

  stop(): void {
    if (this.interval) clearInterval(this.interval);
    if (this.readTimer) clearTimeout(this.readTimer);
    if (this.notesTimer) clearTimeout(this.notesTimer);
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
