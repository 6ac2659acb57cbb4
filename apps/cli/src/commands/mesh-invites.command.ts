import { InviteId, ProtocolError, listInvites, revokeEmailInvite, revokeInvite, revokeShortInvite, type InviteResponse, type StoredMesh } from '@claudemesh/core';
import { Option, SubCommand } from 'nest-commander';
import { CliError, EXIT, MeshVerb, print, selectMesh, type CommonOptions } from '../context.js';
import { Gated } from '../gated.js';
import { V1_LINK_WARNING } from '../mesh-key-warning.js';
import { signedCall } from '../rest/signed-call.js';
import { columns } from '../table.js';
import { safeLine } from '../terminal-text.js';

/**
 * `mesh invite list` and `mesh invite revoke`: the invites of a mesh as the broker counts them
 * (v1 links and short codes; protocol §8.2, §9b), over the signed member routes. Owner or admin.
 */

export type InviteState = 'open' | 'revoked' | 'expired' | 'used up';

export function inviteState(i: InviteResponse, now = Date.now()): InviteState {
  if (i.revoked) return 'revoked';
  if (i.expires_at <= now) return 'expired';
  if (i.uses >= i.max_uses) return 'used up';
  return 'open';
}

const kindOf = (i: InviteResponse): 'short' | 'v1' => (i.version === 2 ? 'short' : 'v1');
const when = (ms: number): string => `${new Date(ms).toISOString().slice(0, 16).replace('T', ' ')}Z`;

/** Inviting is for owners and admins; say so before asking the broker. */
function requireManager(mesh: StoredMesh, what: string): void {
  if (mesh.role === 'member') throw new CliError(`you are a member of "${safeLine(mesh.mesh_name)}"; only its owner or an admin ${what}\n  next: ask its owner (claudemesh peer list shows who that is)`, EXIT.failure);
}

const HINTS = {
  E_FORBIDDEN: 'only the owner or an admin manages invites, and an admin only those it issued',
  E_NOT_FOUND: 'see the invites: claudemesh mesh invite list --all',
};

interface ListOptions extends CommonOptions {
  all?: boolean;
}

@Gated({ resource: 'invite', verb: 'list' })
@SubCommand({ name: 'list', aliases: ['ls'], description: 'The mesh’s open invites (owner or admin); --all adds revoked, expired and used-up ones' })
export class MeshInviteListCommand extends MeshVerb<ListOptions> {
  async run(_args: string[], options: ListOptions): Promise<void> {
    const mesh = selectMesh(options.mesh);
    requireManager(mesh, 'lists invites');
    const { invites } = await signedCall(mesh, (id) => listInvites(mesh.broker_url, id, mesh.mesh_id), HINTS);
    const now = Date.now();
    const all = invites.map((i) => ({ ...i, kind: kindOf(i), state: inviteState(i, now) }));
    const shown = options.all ? all : all.filter((i) => i.state === 'open');
    const hidden = all.length - shown.length;
    const table =
      shown.length === 0
        ? `(no ${options.all ? '' : 'open '}invites in "${mesh.mesh_name}"; issue one: claudemesh mesh invite)`
        : columns([
            ['ID', 'KIND', 'ROLE', 'USES', 'EXPIRES', 'STATE'],
            ...shown.map((i) => [safeLine(i.invite_id), i.kind, safeLine(i.role), `${i.uses}/${i.max_uses}`, when(i.expires_at), i.state]),
          ]);
    const more = hidden > 0 ? `\n(${hidden} revoked, expired or used-up invite${hidden === 1 ? '' : 's'} hidden: --all shows them)` : '';
    const next = shown.some((i) => i.state === 'open') ? '\nclose one: claudemesh mesh invite revoke <id>' : '';
    print(options.json ?? false, shown, `${table}${more}${next}`);
  }

  @Option({ flags: '-a, --all', description: 'include revoked, expired and used-up invites' })
  parseAll(): boolean {
    return true;
  }
}

interface RevokeOptions extends CommonOptions {
  yes?: boolean;
}

@Gated<RevokeOptions>({ resource: 'invite', verb: 'revoke', confirm: true })
@SubCommand({ name: 'revoke', arguments: '<invite-id>', description: 'Revoke an invite (owner, or the admin who issued it): it admits no one from now on' })
export class MeshInviteRevokeCommand extends MeshVerb<RevokeOptions> {
  async run([id]: string[], options: RevokeOptions): Promise<void> {
    if (!InviteId.safeParse(id).success) throw new CliError(`"${id}" is not an invite id (8–64 of A-Z a-z 0-9 _ -); see them: claudemesh mesh invite list`, EXIT.usage);
    if (!options.yes) throw new CliError(`invite ${id} will admit no one after this; re-run with -y to confirm`, EXIT.usage);
    const mesh = selectMesh(options.mesh);
    requireManager(mesh, 'revokes invites');
    const revoked = await signedCall(
      mesh,
      async (identity) => {
        const { invites } = await listInvites(mesh.broker_url, identity, mesh.mesh_id);
        const found = invites.find((i) => i.invite_id === id);
        if (found) {
          const done = await (found.version === 2 ? revokeShortInvite : revokeInvite)(mesh.broker_url, identity, mesh.mesh_id, id!);
          return { invite_id: id!, kind: kindOf(done), revoked: true, role: done.role, uses: done.uses, max_uses: done.max_uses };
        }
        // Email invites are not listed by the broker; their id is the one `mesh invite --email` printed.
        try {
          await revokeEmailInvite(mesh.broker_url, identity, mesh.mesh_id, id!);
        } catch (error) {
          if (error instanceof ProtocolError && error.code === 'E_NOT_FOUND') throw new CliError(`no invite ${id} in "${mesh.mesh_name}" [E_NOT_FOUND]\n  next: ${HINTS.E_NOT_FOUND}`, EXIT.notFound);
          throw error;
        }
        return { invite_id: id!, kind: 'email' as const, revoked: true };
      },
      HINTS,
    );
    const terms = 'uses' in revoked ? ` (${revoked.kind}, ${revoked.role}, ${revoked.uses}/${revoked.max_uses} used)` : ` (${revoked.kind})`;
    print(
      options.json ?? false,
      revoked,
      `revoked invite ${id}${terms} in "${mesh.mesh_name}": it admits no one from now on\nwhoever already joined with it stays a member; remove one with: claudemesh member remove <name>`,
    );
    if (revoked.kind === 'v1') process.stderr.write(V1_LINK_WARNING);
  }

  @Option({ flags: '-y, --yes', description: 'do not ask' })
  parseYes(): boolean {
    return true;
  }
}
