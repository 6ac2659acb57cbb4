import { WAITING_FOR_KEY, type MeInfo, type Notification, type TopicInfo, type TopicMessage } from '@claudemesh/core';
import { Command, CommandRunner, Option, SubCommand } from 'nest-commander';
import { CliError, EXIT, MeshVerb, print, type CommonOptions } from '../context.js';
import { Gated } from '../gated.js';
import { limitArg, topicArg } from '../rest/args.js';
import { notificationLine, topicLine, topicsText } from '../rest/topic-format.js';
import { localSearch, openBeside, openedFields, openedOf, withOpenedText, type LocalHit, type OpenedText } from '../rest/topic-e2e.js';
import { acrossMeshes, meshFields } from '../rest/workspace.js';
import { safeLine, safeText } from '../terminal-text.js';

/**
 * `me …`: the workspace view — you across every mesh joined here (or one, with --mesh): who you are
 * in each, your topics, notifications, recent activity and search. Reads only; each mesh is asked
 * with its own short-lived read key.
 */

const ndjson = (rows: unknown[]): void => void process.stdout.write(rows.map((r) => `${JSON.stringify(r)}\n`).join(''));

interface Summary {
  mesh_id: string;
  mesh_name: string;
  broker_url: string;
  member: MeInfo['member'];
  topics_joined: number;
  unread: number;
  unread_notifications: number;
}

@Gated({ resource: 'me', verb: 'show' })
@SubCommand({ name: 'show', description: 'Who you are in each joined mesh, with unread counts', options: { isDefault: true } })
export class MeShowCommand extends MeshVerb {
  async run(_args: string[], options: CommonOptions): Promise<void> {
    const rows = await acrossMeshes<Summary>(options.mesh, 'me', async (api, mesh) => {
      const [me, topics, notes] = await Promise.all([api.me(), api.myTopics(), api.myNotifications({ unread: true, limit: 200 })]);
      return { ...meshFields(mesh), broker_url: mesh.broker_url, member: me.member, topics_joined: topics.length, unread: topics.reduce((n, t) => n + t.unread, 0), unread_notifications: notes.length };
    });
    const summaries = rows.map((r) => r.value);
    print(
      options.json ?? false,
      summaries,
      summaries
        .map((s) => `${safeLine(s.mesh_name)}: ${safeLine(s.member.display_name)} (${s.member.role}, ${s.member.peer_type}) — ${s.topics_joined} topic${s.topics_joined === 1 ? '' : 's'} joined, ${s.unread} unread, ${s.unread_notifications} unread notification${s.unread_notifications === 1 ? '' : 's'}`)
        .join('\n'),
    );
  }
}

@Gated({ resource: 'me', verb: 'topics' })
@SubCommand({ name: 'topics', description: 'The topics you joined, in every mesh' })
export class MeTopicsCommand extends MeshVerb {
  async run(_args: string[], options: CommonOptions): Promise<void> {
    const rows = await acrossMeshes<TopicInfo[]>(options.mesh, 'me topics', (api) => api.myTopics());
    const topics = rows.flatMap((r) => r.value.map((t) => ({ ...meshFields(r.mesh), ...t })));
    print(options.json ?? false, topics, topicsText(topics));
  }
}

interface NotesOptions extends CommonOptions {
  unread?: boolean;
  limit?: number;
}

@Gated({ resource: 'me', verb: 'notifications' })
@SubCommand({ name: 'notifications', description: 'Mentions and replies in every mesh, newest first' })
export class MeNotificationsCommand extends MeshVerb<NotesOptions> {
  async run(_args: string[], options: NotesOptions): Promise<void> {
    const limit = options.limit ?? 50;
    const rows = await acrossMeshes<{ notes: Notification[]; opened: Map<string, OpenedText> }>(options.mesh, 'me notifications', async (api, mesh) => {
      const notes = await api.myNotifications({ ...(options.unread ? { unread: true } : {}), limit });
      // e2e topics: the broker holds ciphertext only, so the text is opened here with the keyring.
      return { notes, opened: await openBeside(mesh, notes.map((n) => n.message)) };
    });
    const notes = rows
      .flatMap((r) => r.value.notes.map((n) => ({ row: { ...meshFields(r.mesh), ...n }, opened: openedOf(r.value.opened, n.message) })))
      .sort((a, b) => b.row.created_at - a.row.created_at)
      .slice(0, limit);
    if (options.json) return ndjson(notes.map(({ row, opened }) => ({ ...row, ...openedFields(opened) })));
    process.stdout.write(`${safeText(notes.map(({ row, opened }) => notificationLine(withOpenedText(row, opened), row.mesh_name)).join('\n')) || (options.unread ? '(no unread notifications)' : '(no notifications)')}\n`);
  }

  @Option({ flags: '--unread', description: 'only those not read yet' })
  parseUnread(): boolean {
    return true;
  }

  @Option({ flags: '-n, --limit <n>', description: 'how many (1–200, default 50)' })
  parseLimit(value: string): number {
    return limitArg(value, 200);
  }
}

interface LimitOptions extends CommonOptions {
  limit?: number;
}

@Gated({ resource: 'me', verb: 'activity' })
@SubCommand({ name: 'activity', description: 'The newest messages of your topics in every mesh' })
export class MeActivityCommand extends MeshVerb<LimitOptions> {
  async run(_args: string[], options: LimitOptions): Promise<void> {
    const limit = options.limit ?? 20;
    const rows = await acrossMeshes<{ messages: TopicMessage[]; opened: Map<string, OpenedText> }>(options.mesh, 'me activity', async (api, mesh) => {
      const messages = await api.activity(limit);
      return { messages, opened: await openBeside(mesh, messages) };
    });
    const messages = rows
      .flatMap((r) => r.value.messages.map((m) => ({ row: { ...meshFields(r.mesh), ...m }, opened: openedOf(r.value.opened, m) })))
      .sort((a, b) => b.row.created_at - a.row.created_at)
      .slice(0, limit);
    if (options.json) return ndjson(messages.map(({ row, opened }) => ({ ...row, ...openedFields(opened) })));
    process.stdout.write(
      `${safeText(messages.map(({ row, opened }) => topicLine(opened ? { ...row, text: opened.text, ...(opened.text === null ? { reason: `encrypted: ${opened.reason ?? WAITING_FOR_KEY}` } : {}) } : row, { where: `${row.mesh_name}/#${row.topic}` })).join('\n')) || '(no activity in your topics)'}\n`,
    );
  }

  @Option({ flags: '-n, --limit <n>', description: 'how many (1–200, default 20)' })
  parseLimit(value: string): number {
    return limitArg(value, 200);
  }
}

interface SearchOptions extends LimitOptions {
  topic?: string;
}

@Gated({ resource: 'me', verb: 'search' })
@SubCommand({ name: 'search', arguments: '[query...]', description: 'Full-text search of the topics you may read, in every mesh (words, "phrases", -not, or)' })
export class MeSearchCommand extends MeshVerb<SearchOptions> {
  async run(words: string[], options: SearchOptions): Promise<void> {
    const q = words.join(' ').trim();
    if (!q || q.length > 200) throw new CliError('search wants 1–200 characters, e.g. claudemesh me search deploy -staging', EXIT.usage);
    const limit = options.limit ?? 20;
    const rows = await acrossMeshes<Array<TopicMessage | LocalHit>>(options.mesh, 'me search', async (api, mesh) => {
      const remote = await api.search(q, { limit, ...(options.topic ? { topic: options.topic } : {}) });
      // e2e topics are searched here, in what this member decrypted (the broker holds only ciphertext).
      const seen = new Set(remote.map((m) => `${m.topic}/${m.id}`));
      const local = localSearch(mesh, q, { limit, ...(options.topic ? { topic: options.topic } : {}) }).filter((h) => !seen.has(`${h.topic}/${h.id}`));
      return [...remote, ...local].slice(0, limit);
    });
    // Ranked within each mesh; meshes follow one another in the order they are joined.
    const found = rows.flatMap((r) => r.value.map((m) => ({ ...meshFields(r.mesh), ...m })));
    if (options.json) return ndjson(found);
    process.stdout.write(`${safeText(found.map((m) => topicLine(m, { where: `${m.mesh_name}/#${m.topic}` })).join('\n') || `(nothing matches "${q}")`)}\n`);
  }

  @Option({ flags: '-t, --topic <name>', description: 'only this topic' })
  parseTopic(value: string): string {
    return topicArg(value);
  }

  @Option({ flags: '-n, --limit <n>', description: 'how many per mesh (1–100, default 20)' })
  parseLimit(value: string): number {
    return limitArg(value, 100);
  }
}

@Command({ name: 'me', description: 'You across every joined mesh: who you are, topics, notifications, activity, search', subCommands: [MeShowCommand, MeTopicsCommand, MeNotificationsCommand, MeActivityCommand, MeSearchCommand] })
export class MeCommand extends CommandRunner {
  async run(): Promise<void> {
    this.command.help();
  }
}
