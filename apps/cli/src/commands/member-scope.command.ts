import { ApiKeyCapability, MemberScope, listMembers, setMemberScope } from '@claudemesh/core';
import { parseIdentity } from '@claudemesh/crypto';
import { Option, SubCommand } from 'nest-commander';
import { CliError, EXIT, MeshVerb, print, selectMesh, type CommonOptions } from '../context.js';
import { Gated } from '../gated.js';
import { signedCall } from '../rest/signed-call.js';
import { safeLine } from '../terminal-text.js';

interface ScopeOptions extends CommonOptions {
  capabilities?: string[];
  topics?: string[];
  anyTopic?: boolean;
  clear?: boolean;
}

const reachOf = (scope: MemberScope | null | undefined): string =>
  !scope ? 'not confined: its role decides' : `${scope.capabilities.join(', ') || 'nothing'}${scope.topics ? ` on topics ${scope.topics.map((t) => `#${t}`).join(', ')}` : ' on any topic'}`;

/**
 * `member scope <member>`: shows a member's scope, or sets it (docs/protocol.md §8.3 MemberScope).
 * Anyone narrows their own; an owner or admin sets a member's, the owner an admin's; `--clear`
 * lifts one. A plugin instance's member is confined this way by `plugin add`.
 */
@Gated<ScopeOptions>({ resource: 'member', verb: 'scope', peers: ([who]) => [who] })
@SubCommand({ name: 'scope', arguments: '<member>', description: 'Show or set what a member may do whatever its role: --capabilities read,send,admin, --topics a,b or --any-topic, --clear (you narrow your own; an owner/admin sets others\')' })
export class MemberScopeCommand extends MeshVerb<ScopeOptions> {
  async run([who]: string[], options: ScopeOptions): Promise<void> {
    if (!who) throw new CliError('usage: claudemesh member scope <member|me> [--capabilities read,send] [--topics a,b | --any-topic] [--clear]', EXIT.usage);
    const mesh = selectMesh(options.mesh);
    const { members } = await signedCall(mesh, (id) => listMembers(mesh.broker_url, id, mesh.mesh_id));
    const self = parseIdentity(mesh.identity).publicKey;
    const key = who === 'me' ? self : who;
    const target = members.find((m) => m.member_pubkey === key && !m.revoked) ?? members.find((m) => m.display_name === key && !m.revoked);
    if (!target) throw new CliError(`no member ${who} in "${mesh.mesh_name}" [E_NOT_FOUND]\n  next: see who is there: claudemesh member list`, EXIT.notFound);
    const name = safeLine(target.display_name);
    const setting = options.clear || options.capabilities !== undefined || options.topics !== undefined || options.anyTopic;
    if (!setting) {
      print(options.json ?? false, { member_pubkey: target.member_pubkey, display_name: target.display_name, scope: target.scope ?? null }, `${name}: ${reachOf(target.scope)}`);
      return;
    }
    let scope: MemberScope | null = null;
    if (!options.clear) {
      if (options.topics && options.anyTopic) throw new CliError('--topics and --any-topic exclude each other', EXIT.usage);
      const current = target.scope ?? null;
      const capabilities = options.capabilities ?? current?.capabilities ?? ['read', 'send', 'admin'];
      const topics = options.anyTopic ? null : options.topics ?? current?.topics ?? null;
      const parsed = MemberScope.safeParse({ capabilities, topics });
      if (!parsed.success) throw new CliError(`not a scope: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`, EXIT.usage);
      scope = parsed.data;
    } else if (options.capabilities || options.topics || options.anyTopic) {
      throw new CliError('--clear lifts the scope: give it alone', EXIT.usage);
    }
    const hints = {
      E_FORBIDDEN: target.member_pubkey === self
        ? 'you may only narrow your own scope; an owner or admin widens or lifts it'
        : 'an owner or admin sets a member\'s scope, only the owner an admin\'s, and nobody the owner\'s',
    };
    const done = await signedCall(mesh, (id) => setMemberScope(mesh.broker_url, id, mesh.mesh_id, target.member_pubkey, scope), hints);
    print(options.json ?? false, { member_pubkey: done.member_pubkey, display_name: done.display_name, scope: done.scope }, `${name}: ${reachOf(done.scope)}`);
  }

  @Option({ flags: '--capabilities <list>', description: 'comma-separated: read, send, admin (empty for none)' })
  parseCapabilities(value: string): string[] {
    const list = value.split(',').map((c) => c.trim()).filter(Boolean);
    const bad = list.filter((c) => !ApiKeyCapability.safeParse(c).success);
    if (bad.length > 0) throw new CliError(`--capabilities: ${bad.join(', ')} is not one of read, send, admin`, EXIT.usage);
    return list;
  }

  @Option({ flags: '--topics <names>', description: 'comma-separated topics it may use' })
  parseTopics(value: string): string[] {
    return value.split(',').map((t) => t.trim().replace(/^#/, '')).filter(Boolean);
  }

  @Option({ flags: '--any-topic', description: 'any topic (with --capabilities)' })
  parseAnyTopic(): boolean {
    return true;
  }

  @Option({ flags: '--clear', description: 'lift the scope: the role alone decides (owner or admin)' })
  parseClear(): boolean {
    return true;
  }
}
