import { MessageId, MessagePriority, claudemeshHome, encodeBody } from '@claudemesh/core';
import { Command, CommandRunner, Option, SubCommand } from 'nest-commander';
import { withBackend } from '../backend.js';
import { inboxDrainWaitMs } from '../daemon/inbox-wait.js';
import { CliError, EXIT, MeshVerb, selectMesh, type CommonOptions } from '../context.js';
import { inboxIncompleteNote, inboxText, offlineInboxLine, sentText, statusText } from '../format.js';
import { LocalStore, type LocalMessage } from '../store/local-store.js';
import { Gated } from '../gated.js';

interface SendOptions extends CommonOptions {
  priority?: MessagePriority;
  replyTo?: string;
}

/** `message send <to> <text…>`: encrypts on this machine; the broker acks after storing the ciphertext. */
@Gated({ resource: 'message', verb: 'send', peers: ([to]) => [to] })
@SubCommand({ name: 'send', arguments: '<to> <text...>', description: 'Send an end-to-end encrypted message to a name, pubkey, @group or *' })
export class MessageSendCommand extends MeshVerb<SendOptions> {
  async run([to, ...words]: string[], options: SendOptions): Promise<void> {
    const text = words.join(' ');
    if (!text) throw new CliError('nothing to send; usage: claudemesh message send <to> <text>', EXIT.usage);
    const mesh = selectMesh(options.mesh);
    const plaintext = encodeBody(text, { ...(options.priority ? { priority: options.priority } : {}), ...(options.replyTo ? { replyTo: options.replyTo } : {}) });
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
