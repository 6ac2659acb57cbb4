import { InviteId, listEmailInvites, listInvites, revokeEmailInvite, revokeInvite, revokeShortInvite, type EmailInviteInfo, type InviteResponse, type StoredMesh } from '@claudemesh/core';
import type { Identity } from '@claudemesh/crypto';
import { Option, SubCommand } from 'nest-commander';
import { CliError, EXIT, MeshVerb, print, selectMesh, type CommonOptions } from '../context.js';
import { Gated } from '../gated.js';
import { V1_LINK_WARNING } from '../mesh-key-warning.js';
import { signedCall } from '../rest/signed-call.js';
import { columns } from '../table.js';
import { safeLine } from '../terminal-text.js';

/**
 * `mesh invite list` and `mesh invite revoke`: the invites of a mesh as the broker counts them —
 * v1 links, short codes and email invites (protocol §8.2, §9b, §9c) — over the signed member routes.
 * Owner or admin.
 */

export type InviteState = 'open' | 'revoked' | 'expired' | 'used up';
type Kind = 'short' | 'v1' | 'email';

/** One invite of any kind: the broker's record, plus its kind and state (an email invite is single use). */
type Listed = (InviteResponse | (EmailInviteInfo & { uses: number; max_uses: number })) & { kind: Kind; state: InviteState };

function stateOf(i: { revoked: boolean; expires_at: number; uses: number; max_uses: number }, now: number): InviteState {
  if (i.revoked) return 'revoked';
  if (i.expires_at <= now) return 'expired';
  if (i.uses >= i.max_uses) return 'used up';
  return 'open';
}

/** Both lists the broker keeps, oldest first within each: v1 and short codes, then email invites. */
async function allInvites(mesh: StoredMesh, identity: Identity, now = Date.now()): Promise<Listed[]> {
  const [{ invites }, email] = await Promise.all([listInvites(mesh.broker_url, identity, mesh.mesh_id), listEmailInvites(mesh.broker_url, identity, mesh.mesh_id)]);
  return [
    ...invites.map((i) => ({ ...i, kind: (i.version === 2 ? 'short' : 'v1') as Kind, state: stateOf(i, now) })),
    ...email.invites.map((i) => {
      const counted = { ...i, uses: i.member_pubkey ? 1 : 0, max_uses: 1 };
      return { ...counted, kind: 'email' as const, state: stateOf(counted, now) };
    }),
  ];
}
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
    const all = await signedCall(mesh, (id) => allInvites(mesh, id), HINTS);
    const shown = options.all ? all : all.filter((i) => i.state === 'open');
    const hidden = all.length - shown.length;
    const table =
      shown.length === 0
        ? `(no ${options.all ? '' : 'open '}invites in "${mesh.mesh_name}"; issue one: claudemesh mesh invite)`
        : columns([
            ['ID', 'KIND', 'ROLE', 'USES', 'EXPIRES', 'STATE', 'FOR'],
            ...shown.map((i) => [safeLine(i.invite_id), i.kind, safeLine(i.role), `${i.uses}/${i.max_uses}`, when(i.expires_at), i.state, 'email' in i ? safeLine(i.email) : '-']),
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
        const found = (await allInvites(mesh, identity)).find((i) => i.invite_id === id);
        if (!found) throw new CliError(`no invite ${id} in "${mesh.mesh_name}" [E_NOT_FOUND]\n  next: ${HINTS.E_NOT_FOUND}`, EXIT.notFound);
        if (found.kind === 'email') {
          await revokeEmailInvite(mesh.broker_url, identity, mesh.mesh_id, id!);
          return { invite_id: id!, kind: found.kind, revoked: true, role: found.role, uses: found.uses, max_uses: found.max_uses };
        }
        const done = await (found.kind === 'short' ? revokeShortInvite : revokeInvite)(mesh.broker_url, identity, mesh.mesh_id, id!);
        return { invite_id: id!, kind: found.kind, revoked: true, role: done.role, uses: done.uses, max_uses: done.max_uses };
      },
      HINTS,
    );
    const terms = ` (${revoked.kind}, ${revoked.role}, ${revoked.uses}/${revoked.max_uses} used)`;
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
