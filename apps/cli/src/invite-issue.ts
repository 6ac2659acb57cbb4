import { httpBaseOf, issueInvite, issueShortInvite, type StoredMesh } from '@claudemesh/core';
import { cryptoReady, encodeInviteHttpsLink, encodeInviteLink, formatInviteCode, fromB64u, parseIdentity, type Identity } from '@claudemesh/crypto';
import { Option } from 'nest-commander';
import { CliError, EXIT, MeshVerb, type CommonOptions } from './context.js';

export interface InviteOptions extends CommonOptions {
  uses?: number;
  ttl?: number;
  role?: 'member' | 'admin';
  v1?: boolean;
}

interface InviteTerms {
  issuer: Identity;
  role: 'member' | 'admin';
  ttlMs: number;
  maxUses: number;
}

/** An invite registered at the broker: the link, what `--json` prints, and the text otherwise. */
export interface IssuedInvite {
  link: string;
  json: Record<string, unknown>;
  text: string;
}

const plural = (n: number): string => `${n} use${n === 1 ? '' : 's'}`;

/**
 * Issues a counted invite the broker cannot open (what `mesh invite` and `mesh share` print). By
 * default a short code (invites v2): the mesh key travels wrapped under it. `--v1` issues a signed
 * link carrying the key instead. Only one kind is issued per call, so `--uses` bounds the joins.
 */
export async function issueMeshInvite(mesh: StoredMesh, options: InviteOptions): Promise<IssuedInvite> {
  if (mesh.role === 'member') throw new CliError(`you are a member of "${mesh.mesh_name}"; ask its owner or an admin for an invite`, EXIT.failure);
  await cryptoReady();
  const terms: InviteTerms = { issuer: parseIdentity(mesh.identity), role: options.role ?? 'member', ttlMs: Math.round((options.ttl ?? 24) * 3_600_000), maxUses: options.uses ?? 1 };
  if (!options.v1 && !mesh.mesh_key) process.stderr.write('claudemesh: no mesh key on this machine, so no short code can carry one; issuing a v1 link (direct messages only)\n');
  if (options.v1 || !mesh.mesh_key) return v1(mesh, terms);
  return short(mesh, fromB64u(mesh.mesh_key), terms);
}

async function short(mesh: StoredMesh, meshKey: Uint8Array, terms: InviteTerms): Promise<IssuedInvite> {
  const broker = httpBaseOf(mesh.broker_url);
  const { code, link, record, registered } = await issueShortInvite(broker, { meshId: mesh.mesh_id, meshKey, ...terms });
  const display = formatInviteCode(code);
  return {
    link,
    json: { version: 2, invite_id: registered.invite_id, link, short_link: link, code: display, broker_url: broker, role: record.role, expires_at: record.expires_at, max_uses: record.max_uses },
    text: [
      `invite for "${mesh.mesh_name}" (${plural(record.max_uses)}, ${record.role}, expires ${new Date(record.expires_at).toISOString()}):`,
      `  ${link}`,
      `code ${display} (also: claudemesh join ${display} --broker ${broker})`,
      'the peer runs:',
      `  claudemesh join '${link}' --name <their-name>`,
      'share it over a channel you trust: whoever has the code can join and read @group and * messages. Opened in a browser, the link shows the code to the broker.',
      `close it early: claudemesh mesh invite revoke ${registered.invite_id}`,
    ].join('\n'),
  };
}

async function v1(mesh: StoredMesh, terms: InviteTerms): Promise<IssuedInvite> {
  const meshKey = mesh.mesh_key ? fromB64u(mesh.mesh_key) : undefined;
  const { invite, registered } = await issueInvite(mesh.broker_url, { meshId: mesh.mesh_id, meshName: mesh.mesh_name, brokerUrl: mesh.broker_url, ...terms });
  const link = encodeInviteLink(invite, meshKey);
  const https = encodeInviteHttpsLink(invite, meshKey);
  return {
    link,
    json: { version: 1, invite_id: registered.invite_id, link, v1_link: link, https_link: https, expires_at: invite.payload.expires_at, max_uses: invite.payload.max_uses },
    text: [
      `invite for "${mesh.mesh_name}" (${plural(invite.payload.max_uses)}, expires ${new Date(invite.payload.expires_at).toISOString()}):`,
      `  ${link}`,
      'the peer runs:',
      `  claudemesh join '${link}' --name <their-name>`,
      ...(meshKey ? ['this link carries the mesh key itself: whoever sees it can open @group and * messages sealed under it, even after you revoke it (once the mesh has a key epoch, new ones are sealed under epochs the link does not carry); a short code (without --v1) does not'] : []),
      `close it early: claudemesh mesh invite revoke ${registered.invite_id}`,
    ].join('\n'),
  };
}

/** The invite terms as flags (--v1, --uses, --ttl, --role), shared by `mesh invite` and `mesh share`. */
export abstract class InviteVerb extends MeshVerb<InviteOptions> {
  @Option({ flags: '--v1', description: 'issue a v1 signed link (carries the mesh key itself) instead of a short code' })
  parseV1(): boolean {
    return true;
  }

  @Option({ flags: '--uses <n>', description: 'how many joins it allows (default 1)' })
  parseUses(value: string): number {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1 || n > 1000) throw new CliError('--uses wants a whole number from 1 to 1000', EXIT.usage);
    return n;
  }

  @Option({ flags: '--ttl <hours>', description: 'hours until it expires (default 24)' })
  parseTtl(value: string): number {
    const n = Number(value);
    if (!Number.isFinite(n) || n <= 0 || n > 24 * 30) throw new CliError('--ttl wants hours, more than 0 and at most 720', EXIT.usage);
    return n;
  }

  @Option({ flags: '--role <role>', description: 'member | admin (default member)' })
  parseRole(value: string): 'member' | 'admin' {
    if (value !== 'member' && value !== 'admin') throw new CliError('--role must be member or admin', EXIT.usage);
    return value;
  }
}
