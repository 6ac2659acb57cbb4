import { MessageId, MessagePriority, ProtocolError, claudemeshHome, encodeBody, parseTagTarget, sendToTag, type StoredMesh, type TagTarget } from '@claudemesh/core';
import { Command, CommandRunner, Option, SubCommand } from 'nest-commander';
import { withBackend } from '../backend.js';
import { inboxDrainWaitMs } from '../daemon/inbox-wait.js';
import { CliError, EXIT, MeshVerb, connectTo, print, selectMesh, type CommonOptions } from '../context.js';
import { inboxIncompleteNote, inboxText, offlineInboxLine, sentText, statusText } from '../format.js';
import { LocalStore, type LocalMessage } from '../store/local-store.js';
import { Gated } from '../gated.js';

interface SendOptions extends CommonOptions {
  priority?: MessagePriority;
  replyTo?: string;
}

/** `message send <to> <text…>`: encrypts on this machine; the broker acks after storing the ciphertext. */
@Gated({ resource: 'message', verb: 'send', peers: ([to]) => [to] })
@SubCommand({ name: 'send', arguments: '<to> <text...>', description: 'Send an end-to-end encrypted message to a name, pubkey, @group, *, tag:<tag> (every live peer with it) or tag?:<tag> (one)' })
export class MessageSendCommand extends MeshVerb<SendOptions> {
  async run([to, ...words]: string[], options: SendOptions): Promise<void> {
    const text = words.join(' ');
    if (!text) throw new CliError('nothing to send; usage: claudemesh message send <to> <text>', EXIT.usage);
    const mesh = selectMesh(options.mesh);
    const plaintext = encodeBody(text, { ...(options.priority ? { priority: options.priority } : {}), ...(options.replyTo ? { replyTo: options.replyTo } : {}) });
    let tag: TagTarget | null;
    try {
      tag = parseTagTarget(to!);
    } catch (error) {
      throw new CliError((error as Error).message, EXIT.usage);
    }
    if (tag) return sendToTagNow(mesh, tag, plaintext, options.json ?? false);
    const outcome = await withBackend((b) => b.send(mesh, to!, plaintext));
    if (outcome.warning) process.stderr.write(outcome.warning);
    process.stdout.write(sentText(to!, outcome, options.json ?? false));
  }

  @Option({ flags: '-p, --priority <priority>', description: 'now | next | low (default next)' })
  parsePriority(value: string): MessagePriority {
    const parsed = MessagePriority.safeParse(value);
    if (!parsed.success) throw new CliError('--priority must be now, next or low', EXIT.usage);
    return parsed.data;
  }

  @Option({ flags: '-r, --reply-to <message-id>', description: 'the message id this answers' })
  parseReplyTo(value: string): string {
    if (!MessageId.safeParse(value).success) throw new CliError(`--reply-to wants a message id (digits), got "${value}"`, EXIT.usage);
    return value;
  }
}

/**
 * `message send tag:<tag>` / `tag?:<tag>` (docs/protocol.md §5.7): resolved from the live peers now
 * and sent as one DM per member, over a connection of its own (a tag is what live sessions say of
 * themselves: nothing is queued for later).
 */
async function sendToTagNow(mesh: StoredMesh, tag: TagTarget, plaintext: string, json: boolean): Promise<void> {
  const client = await connectTo(mesh);
  try {
    const r = await sendToTag(client, tag, plaintext);
    const names = (xs: Array<{ display_name: string }>): string => xs.map((x) => x.display_name).join(', ');
    const lines = [
      `sent to ${r.sent.length} peer(s) with tag ${tag.tag}${r.mode === 'any' ? ' (one, the least busy)' : ''}: ${names(r.sent) || 'none'}`,
      ...(r.dropped.length ? [`no copy for ${names(r.dropped)} (they do not take your direct messages)`] : []),
      ...(r.refused.length ? r.refused.map((x) => `refused for ${x.display_name}: [${x.code}] ${x.message}`) : []),
    ];
    print(json, r, lines.join('\n'));
    if (r.sent.length === 0) process.exitCode = EXIT.failure;
  } catch (error) {
    if (error instanceof ProtocolError && error.code === 'E_UNKNOWN_TARGET') throw new CliError(error.message, EXIT.notFound);
    throw error;
  } finally {
    await client.close();
  }
}

interface InboxOptions extends CommonOptions {
  read?: boolean;
  all?: boolean;
  wait?: number;
}

/**
 * `message inbox`: brings what the broker holds for this member into the local inbox (the daemon
 * already has it), then shows the unread messages. Peeking marks nothing read; `--read` does, here
 * and at the broker.
 */
@Gated<InboxOptions>({ resource: 'message', verb: (_args, o) => (o.read ? 'read' : 'inbox') })
@SubCommand({ name: 'inbox', description: 'Show messages waiting for you (peek; --read marks them read)' })
export class MessageInboxCommand extends MeshVerb<InboxOptions> {
  async run(_args: string[], options: InboxOptions): Promise<void> {
    const mesh = selectMesh(options.mesh);
    await withBackend(async (backend) => {
      const sync = await backend.syncInbox(mesh, options.wait ?? 0);
      const offline = await backend.offline(mesh);
      if (offline) process.stderr.write(offlineInboxLine(offline));
      else if (!sync.complete) process.stderr.write(inboxIncompleteNote(sync.broker_url, inboxDrainWaitMs()));
      const store = LocalStore.open(claudemeshHome());
      let messages: LocalMessage[];
      try {
        messages = store.inbox(mesh.mesh_id, { all: options.all ?? false });
      } finally {
        store.close();
      }
      if (options.read) {
        const unread = messages.filter((m) => m.read_at === null).map((m) => m.message_id);
        if (unread.length > 0) {
          await backend.markRead(mesh, unread);
          // The daemon marks its local copy; a direct connection leaves that to us.
          if (backend.kind === 'direct') {
            const s = LocalStore.open(claudemeshHome());
            s.markRead(mesh.mesh_id, unread);
            s.close();
          }
        }
      }
      process.stdout.write(inboxText(messages, options));
    });
  }

  @Option({ flags: '--read', description: 'mark the shown messages read (here and for the sender)' })
  parseRead(): boolean {
    return true;
  }

  @Option({ flags: '-a, --all', description: 'include messages already read' })
  parseAll(): boolean {
    return true;
  }

  @Option({ flags: '-w, --wait <seconds>', description: 'keep listening for new messages this long' })
  parseWait(value: string): number {
    const n = Number(value);
    if (!Number.isFinite(n) || n < 0) throw new CliError('--wait wants a number of seconds', EXIT.usage);
    return n;
  }
}

/** `message status <id…>`: queued / delivered / read per recipient of messages you sent. */
@Gated({ resource: 'message', verb: 'status' })
@SubCommand({ name: 'status', arguments: '<message-id...>', description: 'Delivery state per recipient of messages you sent' })
export class MessageStatusCommand extends MeshVerb {
  async run(ids: string[], options: CommonOptions): Promise<void> {
    const bad = ids.find((id) => !MessageId.safeParse(id).success);
    if (bad) throw new CliError(`"${bad}" is not a message id (digits, as printed by claudemesh send)`, EXIT.usage);
    const mesh = selectMesh(options.mesh);
    const statuses = await withBackend((b) => b.messageStatus(mesh, ids));
    const missing = ids.filter((id) => !statuses.some((s) => s.message_id === id));
    process.stdout.write(statusText(statuses, options.json ?? false));
    if (missing.length > 0) throw new CliError(`no message you sent has id ${missing.join(', ')}`, EXIT.notFound);
  }
}

@Command({ name: 'message', description: 'Send, read and track messages', subCommands: [MessageSendCommand, MessageInboxCommand, MessageStatusCommand] })
export class MessageCommand extends CommandRunner {
  async run(): Promise<void> {
    this.command.help();
  }
}

@Command({ name: 'send', arguments: '<to> <text...>', description: 'Alias of: message send' })
export class SendAliasCommand extends MessageSendCommand {}

@Command({ name: 'inbox', description: 'Alias of: message inbox' })
export class InboxAliasCommand extends MessageInboxCommand {}
