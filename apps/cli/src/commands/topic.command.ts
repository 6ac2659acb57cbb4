import { ProtocolError, TOPIC_LIMITS, type StoredMesh, type TopicPostResult } from '@claudemesh/core';
import { Command, CommandRunner, Option, SubCommand } from 'nest-commander';
import { CliError, EXIT, MeshVerb, print, selectMesh, type CommonOptions } from '../context.js';
import { Gated } from '../gated.js';
import { limitArg, messageIdArg, topicArg } from '../rest/args.js';
import { withRestKey } from '../rest/ephemeral-key.js';
import { openedJson, openPage, sendEncryptedPost } from '../rest/topic-e2e.js';
import { tailTopic } from '../rest/topic-tail.js';
import { topicLine, topicMembersText, topicsText } from '../rest/topic-format.js';
import { safeText } from '../terminal-text.js';

/**
 * `topic …`: conversations with durable history (docs/topics.md), over the broker's REST API with a
 * short-lived key minted for the run. Messages of a plaintext topic are plaintext to the broker
 * (unlike DMs); those of an e2e topic (`create --e2e`) are sealed and opened here (rest/topic-e2e.ts).
 */

const target = ([t]: string[]): Array<string | undefined> => [t && `#${t.replace(/^#/, '').toLowerCase()}`];

/** Next steps for a refusal about one topic. */
function hints(mesh: StoredMesh, name: string): Record<string, string> {
  return {
    E_NOT_FOUND: `see the topics: claudemesh topic list (or create it: claudemesh topic create ${name})`,
    E_FORBIDDEN: `a member of #${name} can let you in: claudemesh topic add ${name} ${mesh.display_name}`,
    E_CONFLICT: `join it instead: claudemesh topic join ${name}`,
  };
}

interface CreateOptions extends CommonOptions {
  private?: boolean;
  e2e?: boolean;
  plaintext?: boolean;
  description?: string;
  history?: 'since_join' | 'shared';
}

@Gated({ resource: 'topic', verb: 'create', peers: target })
@SubCommand({ name: 'create', arguments: '<name>', description: 'Create an end-to-end encrypted topic (#name) and join it; --private: only those you add can read it; --plaintext: text the broker reads, for curl and integrations' })
export class TopicCreateCommand extends MeshVerb<CreateOptions> {
  async run([raw]: string[], options: CreateOptions): Promise<void> {
    const name = topicArg(raw);
    if (options.e2e && options.plaintext) throw new CliError('--e2e and --plaintext exclude each other (e2e is the default)', EXIT.usage);
    if (options.plaintext && options.history === 'shared') throw new CliError('--history shared is for e2e topics (every member reads a plaintext topic\'s history anyway)', EXIT.usage);
    const mesh = selectMesh(options.mesh);
    const body = {
      name,
      visibility: options.private ? ('private' as const) : ('public' as const),
      description: options.description ?? '',
      encryption: options.plaintext ? ('plaintext' as const) : ('e2e' as const),
      ...(options.history ? { history: options.history } : {}),
    };
    const t = await withRestKey(mesh, { verb: 'topic create', capabilities: ['send'] }, (api) => api.createTopic(body), hints(mesh, name));
    const mode = t.encryption === 'e2e'
      ? 'end-to-end encrypted: members seal and open its messages, the broker stores only ciphertext'
      : 'plaintext: the broker (and anyone operating it) can read every message; curl and integrations can post text';
    const history = t.encryption !== 'e2e' ? '' : t.history === 'shared'
      ? '\nhistory: shared — members who join later are sealed the earlier keys and read what was said before them'
      : '\nhistory: since join — members who join later read from their join on (--history shared to change that, at creation)';
    print(options.json ?? false, t, `created #${t.name} (${t.visibility}) in "${mesh.mesh_name}", ${mode}${history}${t.visibility === 'private' ? `\nadd others: claudemesh topic add ${t.name} <peer>` : ''}\npost: claudemesh topic send ${t.name} <text>`);
  }

  @Option({ flags: '--private', description: 'only members of the topic may read, post or be added by its members' })
  parsePrivate(): boolean {
    return true;
  }

  @Option({ flags: '--e2e', description: 'end-to-end encrypted (the default): members seal and open its messages, the broker stores only ciphertext' })
  parseE2e(): boolean {
    return true;
  }

  @Option({ flags: '--plaintext', description: 'a plaintext topic: the broker can read its messages; plain REST (curl, scripts, REST-only humans) can post and search it' })
  parsePlaintext(): boolean {
    return true;
  }

  @Option({ flags: '-d, --description <text>', description: 'one line about the topic' })
  parseDescription(value: string): string {
    if (value.length > TOPIC_LIMITS.maxDescriptionChars) throw new CliError(`--description is at most ${TOPIC_LIMITS.maxDescriptionChars} characters`, EXIT.usage);
    return value;
  }

  @Option({ flags: '--history <mode>', description: 'e2e topics: since-join (the default: who joins later reads from the join on) or shared (members seal joiners the earlier keys); fixed at creation' })
  parseHistory(value: string): 'since_join' | 'shared' {
    const mode = value.replace('-', '_');
    if (mode !== 'since_join' && mode !== 'shared') throw new CliError('--history is since-join or shared', EXIT.usage);
    return mode;
  }
}

@Gated({ resource: 'topic', verb: 'list' })
@SubCommand({ name: 'list', aliases: ['ls'], description: 'Topics you can see, with members, joined and unread' })
export class TopicListCommand extends MeshVerb {
  async run(_args: string[], options: CommonOptions): Promise<void> {
    const mesh = selectMesh(options.mesh);
    const topics = await withRestKey(mesh, { verb: 'topic list', capabilities: ['read'] }, (api) => api.topics());
    print(options.json ?? false, topics, topicsText(topics));
  }
}

@Gated({ resource: 'topic', verb: 'join', peers: target })
@SubCommand({ name: 'join', arguments: '<name>', description: 'Join a public topic' })
export class TopicJoinCommand extends MeshVerb {
  async run([raw]: string[], options: CommonOptions): Promise<void> {
    const name = topicArg(raw);
    const mesh = selectMesh(options.mesh);
    const t = await withRestKey(mesh, { verb: 'topic join', capabilities: ['send'], topics: [name] }, (api) => api.joinTopic(name), hints(mesh, name));
    print(options.json ?? false, t, `joined #${t.name} (${t.members} member${t.members === 1 ? '' : 's'}, ${t.unread} unread)\nread it: claudemesh topic history ${t.name}`);
  }
}

@Gated({ resource: 'topic', verb: 'leave', peers: target })
@SubCommand({ name: 'leave', arguments: '<name>', description: 'Leave a topic (a private one needs a member to add you back)' })
export class TopicLeaveCommand extends MeshVerb {
  async run([raw]: string[], options: CommonOptions): Promise<void> {
    const name = topicArg(raw);
    const mesh = selectMesh(options.mesh);
    const { left } = await withRestKey(mesh, { verb: 'topic leave', capabilities: ['send'], topics: [name] }, (api) => api.leaveTopic(name), hints(mesh, name));
    print(options.json ?? false, { topic: name, left }, left ? `left #${name}` : `you were not in #${name}`);
  }
}

@Gated({ resource: 'topic', verb: 'members', peers: target })
@SubCommand({ name: 'members', arguments: '<name>', description: 'Who is in a topic' })
export class TopicMembersCommand extends MeshVerb {
  async run([raw]: string[], options: CommonOptions): Promise<void> {
    const name = topicArg(raw);
    const mesh = selectMesh(options.mesh);
    const members = await withRestKey(mesh, { verb: 'topic members', capabilities: ['read'], topics: [name] }, (api) => api.topicMembers(name), hints(mesh, name));
    print(options.json ?? false, members, topicMembersText(name, members));
  }
}

@Gated({ resource: 'topic', verb: 'add', peers: ([t, p]) => [...target([t!]), p] })
@SubCommand({ name: 'add', arguments: '<name> <peer>', description: 'Add a member of the mesh (name or member key) to a topic you are in' })
export class TopicAddCommand extends MeshVerb {
  async run([raw, peer]: string[], options: CommonOptions): Promise<void> {
    const name = topicArg(raw);
    const mesh = selectMesh(options.mesh);
    const members = await withRestKey(mesh, { verb: 'topic add', capabilities: ['send'], topics: [name] }, (api) => api.addTopicMember(name, peer!), {
      ...hints(mesh, name),
      E_FORBIDDEN: `join #${name} first (claudemesh topic join ${name}); only a member of a private topic adds others`,
    });
    print(options.json ?? false, members, `added ${peer} to #${name}; members: ${members.map((m) => m.display_name).join(', ')}`);
  }
}

interface HistoryOptions extends CommonOptions {
  before?: string;
  limit?: number;
}

@Gated({ resource: 'topic', verb: 'history', peers: target })
@SubCommand({ name: 'history', arguments: '<name>', description: 'A page of a topic’s history, oldest first (--before <id> pages back)' })
export class TopicHistoryCommand extends MeshVerb<HistoryOptions> {
  async run([raw]: string[], options: HistoryOptions): Promise<void> {
    const name = topicArg(raw);
    const mesh = selectMesh(options.mesh);
    const page = await withRestKey(mesh, { verb: 'topic history', capabilities: ['read'], topics: [name] }, (api) =>
      api.history(name, { ...(options.before ? { before: options.before } : {}), ...(options.limit ? { limit: options.limit } : {}) }), hints(mesh, name));
    const messages = await openPage(mesh, page.messages);
    if (options.json) {
      process.stdout.write(messages.map((m) => `${JSON.stringify(openedJson(m))}\n`).join(''));
      return;
    }
    const lines = messages.map((m) => topicLine(m));
    if (lines.length === 0) lines.push(`(no messages in #${name}${options.before ? ` before #${options.before}` : ''})`);
    if (page.has_more && page.messages[0]) lines.push(`older: claudemesh topic history ${name} --before ${page.messages[0].id}`);
    process.stdout.write(`${safeText(lines.join('\n'))}\n`);
  }

  @Option({ flags: '--before <id>', description: 'messages older than this id' })
  parseBefore(value: string): string {
    return messageIdArg('--before', value);
  }

  @Option({ flags: '-n, --limit <n>', description: `how many (1–${TOPIC_LIMITS.maxHistoryPage}, default ${TOPIC_LIMITS.defaultHistoryPage})` })
  parseLimit(value: string): number {
    return limitArg(value, TOPIC_LIMITS.maxHistoryPage);
  }
}

interface SendOptions extends CommonOptions {
  replyTo?: string;
}

@Gated({ resource: 'topic', verb: 'send', peers: target })
@SubCommand({ name: 'send', arguments: '<name> [text...]', description: 'Post to a topic (joins a public one); the broker can read it unless the topic is e2e' })
export class TopicSendCommand extends MeshVerb<SendOptions> {
  async run([raw, ...words]: string[], options: SendOptions): Promise<void> {
    const name = topicArg(raw);
    const text = words.join(' ');
    if (!text.trim()) throw new CliError(`nothing to post; usage: claudemesh topic send ${name} <text>`, EXIT.usage);
    if (text.length > TOPIC_LIMITS.maxTextChars) throw new CliError(`a topic message is at most ${TOPIC_LIMITS.maxTextChars} characters (this one has ${text.length}); split it`, EXIT.usage);
    const mesh = selectMesh(options.mesh);
    const posted = await withRestKey(mesh, { verb: 'topic send', capabilities: ['send'], topics: [name] }, async (api): Promise<TopicPostResult> => {
      try {
        return await api.post(name, { text, ...(options.replyTo ? { reply_to: options.replyTo } : {}) });
      } catch (error) {
        // An e2e topic refuses text: seal it instead (the plaintext path stays one request, its key send-only).
        if (!(error instanceof ProtocolError && error.code === 'E_TOPIC_MODE')) throw error;
        const { t, keys } = await withRestKey(mesh, { verb: 'topic send', capabilities: ['read'], topics: [name] }, async (reader) => {
          const t = await reader.topic(name);
          return { t, keys: t.visibility === 'private' ? (await reader.topicMembers(name)).map((m) => m.member_pubkey) : [] };
        });
        if (t.encryption !== 'e2e') throw error;
        // A private topic's epoch 1 lists its members; a public one's, the mesh's members with keys.
        const topicMembers = t.visibility === 'private' ? async () => keys : undefined;
        const sealed = await sendEncryptedPost(mesh, name, text, { ...(options.replyTo ? { replyTo: options.replyTo } : {}), ...(topicMembers ? { topicMembers } : {}) });
        return { message: { ...sealed, text }, duplicate: false };
      }
    }, {
      ...hints(mesh, name),
      E_SCHEMA: `--reply-to must name a message of #${name}: claudemesh topic history ${name}`,
    });
    const m = posted.message;
    print(options.json ?? false, posted, `posted #${m.id} to #${m.topic}${m.reply_to ? ` (reply to #${m.reply_to})` : ''}${m.mentions.length ? `, mentioning ${m.mentions.length}` : ''}${posted.duplicate ? ' (already stored)' : ''}`);
  }

  @Option({ flags: '-r, --reply-to <id>', description: 'the message of this topic it answers (a thread)' })
  parseReplyTo(value: string): string {
    return messageIdArg('--reply-to', value);
  }
}

interface ReadOptions extends CommonOptions {
  upTo?: string;
}

@Gated({ resource: 'topic', verb: 'read', peers: target })
@SubCommand({ name: 'read', arguments: '<name>', description: 'Mark a topic read (up to the newest, or --up-to <id>)' })
export class TopicReadCommand extends MeshVerb<ReadOptions> {
  async run([raw]: string[], options: ReadOptions): Promise<void> {
    const name = topicArg(raw);
    const mesh = selectMesh(options.mesh);
    const mark = await withRestKey(mesh, { verb: 'topic read', capabilities: ['send'], topics: [name] }, (api) => api.markRead(name, options.upTo), hints(mesh, name));
    print(options.json ?? false, mark, `#${mark.topic} read up to #${mark.last_read_id}; ${mark.unread} unread`);
  }

  @Option({ flags: '--up-to <id>', description: 'the last message read (default the newest)' })
  parseUpTo(value: string): string {
    return messageIdArg('--up-to', value);
  }
}

interface TailOptions extends CommonOptions {
  since?: string;
}

@Gated({ resource: 'topic', verb: 'tail', peers: target })
@SubCommand({ name: 'tail', arguments: '<name>', description: 'Follow a topic live until Ctrl-C (--since <id> replays what came after it)' })
export class TopicTailCommand extends MeshVerb<TailOptions> {
  async run([raw]: string[], options: TailOptions): Promise<void> {
    const name = topicArg(raw);
    const mesh = selectMesh(options.mesh);
    await tailTopic(mesh, name, { json: options.json ?? false, ...(options.since ? { since: options.since } : {}), hints: hints(mesh, name) });
  }

  @Option({ flags: '--since <id>', description: 'start after this message id (default: only new messages)' })
  parseSince(value: string): string {
    return messageIdArg('--since', value);
  }
}

@Command({
  name: 'topic',
  description: 'Topics (#name): conversations with history, shared by agents and humans',
  subCommands: [TopicCreateCommand, TopicListCommand, TopicJoinCommand, TopicLeaveCommand, TopicMembersCommand, TopicAddCommand, TopicHistoryCommand, TopicSendCommand, TopicReadCommand, TopicTailCommand],
})
export class TopicCommand extends CommandRunner {
  async run(): Promise<void> {
    this.command.help();
  }
}
