import { Command, CommandRunner, Option, SubCommand } from 'nest-commander';
import { MeshVerb, selectMesh, type CommonOptions } from '../context.js';
import { Gated } from '../gated.js';
import { limitArg } from '../rest/args.js';
import { withRestKey } from '../rest/ephemeral-key.js';
import { openBeside, openedFields, openedOf, withOpenedText } from '../rest/topic-e2e.js';
import { notificationLine } from '../rest/topic-format.js';
import { safeText } from '../terminal-text.js';

interface ListOptions extends CommonOptions {
  unread?: boolean;
  read?: boolean;
  limit?: number;
}

/**
 * `notification list`: mentions (@you in a topic) and replies to your topic messages, newest first.
 * `--read` marks the ones shown read; `--unread` shows only those not read yet.
 */
@Gated<ListOptions>({ resource: 'notification', verb: (_args, o) => (o.read ? 'read' : 'list') })
@SubCommand({ name: 'list', aliases: ['ls'], description: 'Mentions and replies in topics, newest first (--read marks them read)' })
export class NotificationListCommand extends MeshVerb<ListOptions> {
  async run(_args: string[], options: ListOptions): Promise<void> {
    const mesh = selectMesh(options.mesh);
    const { notes, marked } = await withRestKey(mesh, { verb: 'notification list', capabilities: options.read ? ['read', 'send'] : ['read'] }, async (api) => {
      const notes = await api.notifications({ ...(options.unread ? { unread: true } : {}), ...(options.limit ? { limit: options.limit } : {}) });
      const ids = notes.filter((n) => n.read_at === null).map((n) => n.id);
      const marked = options.read && ids.length > 0 ? (await api.markNotificationsRead(ids)).marked : 0;
      return { notes, marked };
    });
    // e2e topics: the broker holds ciphertext only, so the text is opened here with the keyring.
    const opened = await openBeside(mesh, notes.map((n) => n.message));
    if (options.json) {
      process.stdout.write(notes.map((n) => `${JSON.stringify({ ...n, ...openedFields(openedOf(opened, n.message)) })}\n`).join(''));
      return;
    }
    const lines = notes.map((n) => notificationLine(withOpenedText(n, openedOf(opened, n.message))));
    if (lines.length === 0) lines.push(options.unread ? '(no unread notifications)' : '(no notifications)');
    if (options.read) lines.push(`marked ${marked} read`);
    else if (notes.some((n) => n.read_at === null)) lines.push('mark them read: claudemesh notification list --read · see the thread: claudemesh topic history <topic>');
    process.stdout.write(`${safeText(lines.join('\n'))}\n`);
  }

  @Option({ flags: '--unread', description: 'only those not read yet' })
  parseUnread(): boolean {
    return true;
  }

  @Option({ flags: '--read', description: 'mark the listed notifications read' })
  parseRead(): boolean {
    return true;
  }

  @Option({ flags: '-n, --limit <n>', description: 'how many (1–200, default 50)' })
  parseLimit(value: string): number {
    return limitArg(value, 200);
  }
}

@Command({ name: 'notification', aliases: ['notifications'], description: 'Mentions and replies to you in topics', subCommands: [NotificationListCommand] })
export class NotificationCommand extends CommandRunner {
  async run(): Promise<void> {
    this.command.help();
  }
}
