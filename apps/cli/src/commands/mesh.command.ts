import { claudemeshHome, createMesh, httpBaseOf, issueInvite, issueShortInvite, loadMeshes, saveMesh, type StoredMesh } from '@claudemesh/core';
import {
  cryptoReady, encodeInviteHttpsLink, encodeInviteLink, formatInviteCode, fromB64u, generateMeshKey, parseIdentity, serializeIdentity, toB64u, type Identity,
} from '@claudemesh/crypto';
import { randomUUID } from 'node:crypto';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { Command, CommandRunner, Option, SubCommand } from 'nest-commander';
import { MeshShareCommand } from './mesh-share.command.js';
import { CliError, EXIT, MeshVerb, print, selectMesh, type CommonOptions } from '../context.js';
import { accountForNewIdentity, meshIdentity } from '../identity/account.js';

/** `mesh list`: the meshes joined on this machine (no network). */
@SubCommand({ name: 'list', aliases: ['ls'], description: 'Meshes joined on this machine' })
export class MeshListCommand extends MeshVerb {
  async run(_args: string[], options: CommonOptions): Promise<void> {
    const meshes = loadMeshes(claudemeshHome());
    const rows = meshes.map((m) => ({ mesh_id: m.mesh_id, mesh_name: m.mesh_name, display_name: m.display_name, role: m.role, broker_url: m.broker_url, member_pubkey: m.identity.public_key, default: meshes.length === 1 }));
    print(
      options.json ?? false,
      rows,
      rows.length === 0
        ? "(no mesh joined) — run: claudemesh join '<invite link>' --name <you>, or claudemesh mesh create <name> --broker <url>"
        : rows.map((r) => `${r.mesh_name.padEnd(20)} as ${r.display_name.padEnd(16)} ${r.role.padEnd(6)} ${r.broker_url}  ${r.mesh_id}`).join('\n'),
    );
  }
}

interface CreateOptions extends CommonOptions {
  broker?: string;
  adminToken?: string;
  name?: string;
}

/** `mesh create <name>`: a new mesh on a broker, owned by the account's identity for the new mesh id. */
@SubCommand({ name: 'create', arguments: '<mesh-name>', description: 'Create a mesh on a broker (needs the broker admin token)' })
export class MeshCreateCommand extends MeshVerb<CreateOptions> {
  async run([meshName]: string[], options: CreateOptions): Promise<void> {
    const broker = options.broker ?? process.env['CLAUDEMESH_BROKER'];
    if (!broker) throw new CliError('which broker? pass --broker http://host:7900 (or set CLAUDEMESH_BROKER)', EXIT.usage);
    const adminToken = options.adminToken ?? process.env['CLAUDEMESH_ADMIN_TOKEN'];
    if (!adminToken) throw new CliError('mesh creation needs the broker admin token: --admin-token <token> or CLAUDEMESH_ADMIN_TOKEN (the broker prints where it keeps it)', EXIT.usage);
    await cryptoReady();
    // The mesh id is chosen here so the owner key can be derived for it before the broker sees it.
    const meshId = randomUUID();
    const pending = accountForNewIdentity(claudemeshHome());
    const owner = meshIdentity(pending.account, meshId);
    const meshKey = generateMeshKey();
    const displayName = options.name ?? process.env['USER'] ?? 'owner';
    const created = await createMesh(broker, { name: meshName!, owner, displayName, adminToken, meshId });
    pending.commit();
    const file = saveMesh(claudemeshHome(), {
      v: 1,
      mesh_id: created.mesh_id,
      mesh_name: created.name,
      broker_url: broker,
      display_name: displayName,
      role: 'owner',
      peer_type: 'ai',
      identity: serializeIdentity(owner),
      mesh_key: toB64u(meshKey),
      joined_at: Date.now(),
    });
    print(options.json ?? false, { mesh_id: created.mesh_id, mesh_name: created.name, file }, `created "${created.name}" (${created.mesh_id}); keys in ${file}\nnext: claudemesh mesh invite --mesh ${created.name}`);
  }

  @Option({ flags: '-b, --broker <url>', description: 'broker URL, e.g. http://127.0.0.1:7900' })
  parseBroker(value: string): string {
    return value;
  }

  @Option({ flags: '--admin-token <token>', description: 'the broker admin token (or CLAUDEMESH_ADMIN_TOKEN)' })
  parseAdminToken(value: string): string {
    return value;
  }

  @Option({ flags: '-n, --name <name>', description: 'your display name in the new mesh' })
  parseName(value: string): string {
    return value;
  }
}

interface InviteOptions extends CommonOptions {
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

const plural = (n: number): string => `${n} use${n === 1 ? '' : 's'}`;

/**
 * `mesh invite`: a counted invite the broker cannot open. By default a short code (invites v2): the
 * mesh key travels wrapped under it. `--v1` issues a signed link carrying the key instead. Only one
 * kind is issued per call, so `--uses` bounds the joins.
 */
@SubCommand({ name: 'invite', description: 'Issue an invite (owner or admin): a short link by default, a v1 signed link with --v1' })
export class MeshInviteCommand extends MeshVerb<InviteOptions> {
  async run(_args: string[], options: InviteOptions): Promise<void> {
    const mesh = selectMesh(options.mesh);
    if (mesh.role === 'member') throw new CliError(`you are a member of "${mesh.mesh_name}"; ask its owner or an admin for an invite`, EXIT.failure);
    await cryptoReady();
    const terms: InviteTerms = { issuer: parseIdentity(mesh.identity), role: options.role ?? 'member', ttlMs: Math.round((options.ttl ?? 24) * 3_600_000), maxUses: options.uses ?? 1 };
    if (!options.v1 && !mesh.mesh_key) process.stderr.write('claudemesh: no mesh key on this machine, so no short code can carry one; issuing a v1 link (direct messages only)\n');
    if (options.v1 || !mesh.mesh_key) return this.v1(mesh, terms, options.json ?? false);
    return this.short(mesh, fromB64u(mesh.mesh_key), terms, options.json ?? false);
  }

  private async short(mesh: StoredMesh, meshKey: Uint8Array, terms: InviteTerms, json: boolean): Promise<void> {
    const broker = httpBaseOf(mesh.broker_url);
    const { code, link, record, registered } = await issueShortInvite(broker, { meshId: mesh.mesh_id, meshKey, ...terms });
    const display = formatInviteCode(code);
    print(
      json,
      { version: 2, invite_id: registered.invite_id, link, short_link: link, code: display, broker_url: broker, role: record.role, expires_at: record.expires_at, max_uses: record.max_uses },
      [
        `invite for "${mesh.mesh_name}" (${plural(record.max_uses)}, ${record.role}, expires ${new Date(record.expires_at).toISOString()}):`,
        `  ${link}`,
        `code ${display} (also: claudemesh join ${display} --broker ${broker})`,
        'the peer runs:',
        `  claudemesh join '${link}' --name <their-name>`,
        'share it over a channel you trust: whoever has the code can join and read @group and * messages. Opened in a browser, the link shows the code to the broker.',
      ].join('\n'),
    );
  }

  private async v1(mesh: StoredMesh, terms: InviteTerms, json: boolean): Promise<void> {
    const meshKey = mesh.mesh_key ? fromB64u(mesh.mesh_key) : undefined;
    const { invite, registered } = await issueInvite(mesh.broker_url, { meshId: mesh.mesh_id, meshName: mesh.mesh_name, brokerUrl: mesh.broker_url, ...terms });
    const link = encodeInviteLink(invite, meshKey);
    const https = encodeInviteHttpsLink(invite, meshKey);
    print(
      json,
      { version: 1, invite_id: registered.invite_id, link, v1_link: link, https_link: https, expires_at: invite.payload.expires_at, max_uses: invite.payload.max_uses },
      `invite for "${mesh.mesh_name}" (${plural(invite.payload.max_uses)}, expires ${new Date(invite.payload.expires_at).toISOString()}):\n  ${link}\nthe peer runs:\n  claudemesh join '${link}' --name <their-name>`,
    );
  }

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

interface LeaveOptions extends CommonOptions {
  yes?: boolean;
}

/** `mesh leave`: forgets the mesh on this machine (its keys are deleted). */
@SubCommand({ name: 'leave', arguments: '[mesh]', description: 'Forget a mesh on this machine (deletes its keys here)' })
export class MeshLeaveCommand extends MeshVerb<LeaveOptions> {
  async run([selector]: string[], options: LeaveOptions): Promise<void> {
    const mesh = selectMesh(selector ?? options.mesh);
    if (!options.yes) throw new CliError(`this deletes your keys for "${mesh.mesh_name}" on this machine; re-run with -y to confirm (claudemesh identity export first to keep them)`, EXIT.usage);
    rmSync(join(claudemeshHome(), 'meshes', `${mesh.mesh_id}.json`), { force: true });
    print(options.json ?? false, { mesh_id: mesh.mesh_id, left: true }, `left "${mesh.mesh_name}" on this machine`);
  }

  @Option({ flags: '-y, --yes', description: 'do not ask' })
  parseYes(): boolean {
    return true;
  }
}

@Command({ name: 'mesh', description: 'Meshes: create, list, invite, leave', subCommands: [MeshListCommand, MeshCreateCommand, MeshInviteCommand, MeshLeaveCommand, MeshShareCommand] })
export class MeshCommand extends CommandRunner {
  async run(): Promise<void> {
    this.command.help();
  }
}

@Command({ name: 'list', description: 'Alias of: mesh list' })
export class ListAliasCommand extends MeshListCommand {}

@Command({ name: 'leave', arguments: '[mesh]', description: 'Alias of: mesh leave' })
export class LeaveAliasCommand extends MeshLeaveCommand {}
