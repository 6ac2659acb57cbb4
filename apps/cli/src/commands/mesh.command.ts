import { claudemeshHome, createMesh, loadMeshes, saveMesh } from '@claudemesh/core';
import { cryptoReady, generateMeshKey, serializeIdentity, toB64u } from '@claudemesh/crypto';
import { randomUUID } from 'node:crypto';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { Command, CommandRunner, Option, SubCommand } from 'nest-commander';
import { MeshShareCommand } from './mesh-share.command.js';
import { MeshHandoffCommand } from './mesh-handoff.command.js';
import { MeshStatsCommand } from './mesh-stats.command.js';
import { MeshInviteListCommand, MeshInviteRevokeCommand } from './mesh-invites.command.js';
import { CliError, EXIT, MeshVerb, print, selectMesh, type CommonOptions } from '../context.js';
import { accountForNewIdentity, meshIdentity } from '../identity/account.js';
import { InviteVerb, issueMeshInvite } from '../invite-issue.js';
import { issueEmailInvite, type EmailInviteOptions } from '../email-invite-issue.js';
import { Gated } from '../gated.js';
import { safeLine } from '../terminal-text.js';
import { runsItself } from '../usage-rules.js';

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
        : rows.map((r) => `${safeLine(r.mesh_name).padEnd(20)} as ${safeLine(r.display_name).padEnd(16)} ${safeLine(r.role).padEnd(6)} ${safeLine(r.broker_url)}  ${safeLine(r.mesh_id)}`).join('\n'),
    );
  }
}

interface CreateOptions extends CommonOptions {
  broker?: string;
  adminToken?: string;
  name?: string;
  plaintextGeneral?: boolean;
}

/** `mesh create <name>`: a new mesh on a broker, owned by the account's identity for the new mesh id. */
@Gated({ resource: 'mesh', verb: 'create', mesh: ([name]) => name })
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
    const created = await createMesh(broker, { name: meshName!, owner, displayName, adminToken, meshId, general: options.plaintextGeneral ? 'plaintext' : 'e2e' });
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
    const general = options.plaintextGeneral ? '#general is plaintext: the broker can read it, curl can post to it' : '#general is end-to-end encrypted';
    print(options.json ?? false, { mesh_id: created.mesh_id, mesh_name: created.name, file }, `created "${created.name}" (${created.mesh_id}); keys in ${file}; ${general}\nnext: claudemesh mesh invite --mesh ${created.name}`);
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

  @Option({ flags: '--plaintext-general', description: '#general as a plaintext topic the broker can read (for curl and integrations); default: end-to-end encrypted' })
  parsePlaintextGeneral(): boolean {
    return true;
  }
}

/** `mesh invite`: a counted invite the broker cannot open (see issueMeshInvite). */
@Gated({ resource: 'mesh', verb: 'invite' })
@SubCommand({ name: 'invite', description: 'Issue an invite (owner or admin): a short link by default, a v1 signed link with --v1; list and revoke them', subCommands: [MeshInviteListCommand, MeshInviteRevokeCommand] })
export class MeshInviteCommand extends InviteVerb {
  /**
   * Commander gives a flag both verbs declare (--json, --mesh, --policy, --approval-mode) to
   * `invite` even when it follows `list` / `revoke`: hand those down, and refuse issuing flags there.
   */
  override setCommand(command: Parameters<InviteVerb['setCommand']>[0]): this {
    // Bare `mesh invite` issues one: it is not a group that only shows its help (usage-rules.ts).
    runsItself.add(command);
    command.hook('preSubcommand', (parent, sub) => {
      for (const [key, value] of Object.entries(parent.opts())) {
        if (parent.getOptionValueSource(key) !== 'cli') continue;
        if (!sub.options.some((o) => o.attributeName() === key)) throw new CliError(`mesh invite ${sub.name()} takes no --${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)} (that is for issuing an invite); see claudemesh mesh invite ${sub.name()} --help`, EXIT.usage);
        sub.setOptionValueWithSource(key, value, 'cli');
      }
    });
    return super.setCommand(command);
  }

  async run(_args: string[], options: EmailInviteOptions): Promise<void> {
    const issued = options.email ? await issueEmailInvite(selectMesh(options.mesh), options) : await issueMeshInvite(selectMesh(options.mesh), options);
    print(options.json ?? false, issued.json, issued.text);
  }

  @Option({ flags: '--email <address>', description: 'have the broker email a single-use invite; the mesh key follows by handoff (claudemesh mesh handoff)' })
  parseEmail(value: string): string {
    return value;
  }

  @Option({ flags: '--invitee-name <name>', description: 'with --email: the display name suggested in the mail' })
  parseInviteeName(value: string): string {
    return value;
  }
}

interface LeaveOptions extends CommonOptions {
  yes?: boolean;
}

/** `mesh leave`: forgets the mesh on this machine (its keys are deleted). */
@Gated<LeaveOptions>({ resource: 'mesh', verb: 'leave', mesh: ([selector], o) => selector ?? o.mesh, confirm: true })
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

@Command({ name: 'mesh', description: 'Meshes: create, list, invite, share, leave, stats', subCommands: [MeshListCommand, MeshCreateCommand, MeshInviteCommand, MeshLeaveCommand, MeshShareCommand, MeshHandoffCommand, MeshStatsCommand] })
export class MeshCommand extends CommandRunner {
  async run(): Promise<void> {
    this.command.help();
  }
}

@Command({ name: 'list', description: 'Alias of: mesh list' })
export class ListAliasCommand extends MeshListCommand {}

@Command({ name: 'leave', arguments: '[mesh]', description: 'Alias of: mesh leave' })
export class LeaveAliasCommand extends MeshLeaveCommand {}
