import { encodeControl, LINK_TTL_DEFAULT_S, LINK_TTL_MAX_S, linkCodeHash, newLinkCode } from '@claudemesh/gateway/link';
import { Command, CommandRunner, Option, SubCommand } from 'nest-commander';
import { withBackend } from '../backend.js';
import { CliError, EXIT, MeshVerb, print, selectMesh, type CommonOptions } from '../context.js';
import { Gated } from '../gated.js';

interface LinkOptions extends CommonOptions {
  name?: string;
  ttl?: number;
}

/** `30m`, `2h`, `900` (seconds) → seconds. */
function parseTtl(value: string): number {
  const m = /^(\d+)(s|m|h)?$/.exec(value.trim());
  if (!m) throw new CliError(`--ttl wants a duration like 15m, 2h or 900 (seconds), got "${value}"`, EXIT.usage);
  const s = Number(m[1]) * (m[2] === 'h' ? 3600 : m[2] === 'm' ? 60 : 1);
  if (s < 60 || s > LINK_TTL_MAX_S) throw new CliError(`--ttl must be between 1m and ${LINK_TTL_MAX_S / 3600}h`, EXIT.usage);
  return s;
}

/**
 * `gateway link <gateway>`: a one-time code that links a chat user to the mesh through a gateway
 * (docs/gateways.md §3). The code is made here and only its hash goes to the gateway, in an
 * end-to-end encrypted DM signed by this member: without --name the chat user who sends the code
 * speaks as this member; with --name (owner/admin) as a person of that name.
 */
@Gated({ resource: 'message', verb: 'send', peers: ([gateway]) => [gateway] })
@SubCommand({ name: 'link', arguments: '<gateway>', description: 'Make a one-time code that links a chat user (Telegram, Slack, WhatsApp) through the gateway peer <gateway>: as you, or --name someone' })
export class GatewayLinkCommand extends MeshVerb<LinkOptions> {
  async run([gateway]: string[], options: LinkOptions): Promise<void> {
    if (!gateway) throw new CliError('usage: claudemesh gateway link <gateway> [--name <person>] [--ttl 15m]', EXIT.usage);
    const mesh = selectMesh(options.mesh);
    const code = newLinkCode();
    const ttl = options.ttl ?? LINK_TTL_DEFAULT_S;
    const control = encodeControl({ cmgw: 1, op: 'link', code_sha256: linkCodeHash(code), ttl_s: ttl, ...(options.name !== undefined ? { name: options.name } : {}) });
    const outcome = await withBackend((b) => b.send(mesh, gateway, control));
    if (outcome.warning) process.stderr.write(outcome.warning);
    const expiresAt = new Date(Date.now() + ttl * 1000).toISOString();
    const who = options.name ?? 'you';
    print(
      options.json ?? false,
      { gateway, code, name: options.name ?? null, expires_at: expiresAt, queued: outcome.ack === null, message_id: outcome.ack?.message_id ?? null },
      [
        `link code for ${who} through ${gateway}: ${code}`,
        `In the chat with the gateway's bot, send:  link ${code}`,
        `Valid once, until ${expiresAt}.${outcome.ack === null ? ' (The request is queued: the gateway learns the code when it reaches the broker.)' : ''}`,
      ].join('\n'),
    );
  }

  @Option({ flags: '--name <person>', description: 'link a person under this name instead of you (owner/admin)' })
  parseName(value: string): string {
    if (!/^[\p{L}\p{N} ._'-]{1,64}$/u.test(value)) throw new CliError('--name: 1-64 letters, digits, spaces or . _ \' -', EXIT.usage);
    return value;
  }

  @Option({ flags: '--ttl <duration>', description: `how long the code stays valid (default ${LINK_TTL_DEFAULT_S / 60}m, at most ${LINK_TTL_MAX_S / 3600}h)` })
  parseTtl(value: string): number {
    return parseTtl(value);
  }
}

/** `gateway unlink <gateway> <user>`: the gateway forgets a linked chat user (owner/admin, or the member it speaks as). */
@Gated({ resource: 'message', verb: 'send', peers: ([gateway]) => [gateway] })
@SubCommand({ name: 'unlink', arguments: '<gateway> <user>', description: 'Unlink a chat user from the gateway peer <gateway> (by linked name or surface user id)' })
export class GatewayUnlinkCommand extends MeshVerb<CommonOptions> {
  async run([gateway, user]: string[], options: CommonOptions): Promise<void> {
    if (!gateway || !user) throw new CliError('usage: claudemesh gateway unlink <gateway> <user>', EXIT.usage);
    const mesh = selectMesh(options.mesh);
    const outcome = await withBackend((b) => b.send(mesh, gateway, encodeControl({ cmgw: 1, op: 'unlink', user })));
    if (outcome.warning) process.stderr.write(outcome.warning);
    print(options.json ?? false, { gateway, user, queued: outcome.ack === null }, `asked ${gateway} to unlink ${user}`);
  }
}

@Command({ name: 'gateway', description: 'Chat gateways (Telegram, Slack, WhatsApp plugins: docs/gateways.md): link chat users', subCommands: [GatewayLinkCommand, GatewayUnlinkCommand] })
export class GatewayCommand extends CommandRunner {
  async run(): Promise<void> {
    this.command.help();
  }
}
