import {
  ProtocolError,
  claimShortInvite,
  claudemeshHome,
  httpBaseOf,
  joinMesh,
  loadMeshes,
  resolveShortInvite,
  saveMesh,
  type JoinResponse,
  type PeerType,
  type ShortInviteResolveResponse,
  type StoredMesh,
} from '@claudemesh/core';
import { checkInvite, cryptoReady, serializeIdentity, toB64u, type Identity } from '@claudemesh/crypto';
import { Command, CommandRunner, Option } from 'nest-commander';
import { CliError, EXIT, print } from '../context.js';
import { Gated } from '../gated.js';
import { accountForNewIdentity, meshIdentity, type PendingAccount } from '../identity/account.js';
import { joinFailure, parseInviteInput, type InviteInput } from '../identity/invite-input.js';
import { joinByEmail, resumeEmailJoins } from '../email-join.js';
import { defaultDisplayName, firstFreeName, nameCandidates } from '../identity/default-name.js';

interface JoinOptions {
  name?: string;
  peerType?: PeerType;
  broker?: string;
  json?: boolean;
  /** Email invites: seconds to wait for the mesh key (default 60). */
  wait?: number;
  resume?: boolean;
  human?: boolean;
}

/** Says where a name nobody chose came from, and how to change it. */
function defaultNameNote(osName: string, taken: string | null): string {
  const got = taken === null ? `named after your OS user (${osName}, with a suffix if taken)` : taken === osName ? `named after your OS user` : `named after your OS user; ${osName} was taken in this mesh, so you are ${taken}`;
  return `${got}, as no --name was given; to change it: claudemesh whoami rename <new-name>`;
}

interface Joined {
  meshId: string;
  meshName: string;
  brokerUrl: string;
  member: { display_name: string; role: StoredMesh['role']; peer_type: PeerType; member_pubkey: string };
  meshKey?: Uint8Array;
  rejoined: boolean;
}

/**
 * `join`: enrolls a member key with an invite. The key is derived from the account seed for this
 * mesh (one is made implicitly on first join), so the same identity can be recreated elsewhere.
 * Short codes (invites v2) never leave this machine; only their lookup does.
 */
@Gated({ resource: 'mesh', verb: 'join', mesh: () => null })
@Command({
  name: 'join',
  arguments: '[invite]',
  description:
    'Join a mesh: a short link (https://<broker>/i/CODE), an email invite link (https://<broker>/e/CODE?issuer=…), a code with --broker, or a v1 link (ic://join/… or https://…/join#…); --resume finishes an email join still waiting for its key',
})
export class JoinCommand extends CommandRunner {
  async run([text]: string[], options: JoinOptions): Promise<void> {
    await cryptoReady();
    const waitS = options.wait ?? 60;
    if (options.resume) return resumeEmailJoins(text, { waitS, json: options.json ?? false });
    if (!text) throw new CliError("which invite? claudemesh join '<invite link>' --name <you> (or claudemesh join --resume for an email join waiting for its key)", EXIT.usage);
    const input = parseInviteInput(text, options.broker ?? process.env['CLAUDEMESH_BROKER']);
    const peerType = this.peerTypeOf(options);
    // Without --name: the OS user name, made unique by a suffix if someone in the mesh has it.
    const names = options.name !== undefined ? [options.name] : nameCandidates(defaultDisplayName());
    const home = claudemeshHome();
    const pending = accountForNewIdentity(home);
    if (input.kind === 'email') {
      await joinByEmail(input, pending, { name: names[0]!, names, peerType, waitS, json: options.json ?? false });
      if (options.name === undefined && !options.json) process.stderr.write(`claudemesh: ${defaultNameNote(names[0]!, null)}\n`);
      return;
    }
    const broker = input.kind === 'v1' ? input.invite.payload.broker_url : httpBaseOf(input.brokerUrl);
    let joined: Joined;
    try {
      ({ result: joined } = await firstFreeName(names, (name) =>
        input.kind === 'v1' ? this.joinV1(input, pending, name, peerType) : this.joinV2(input, broker, pending, name, peerType),
      ));
    } catch (error) {
      throw joinFailure(error, { broker, name: names.at(-1)! });
    }
    const defaulted = options.name === undefined && !joined.rejoined;
    pending.commit();
    const file = saveMesh(home, {
      v: 1,
      mesh_id: joined.meshId,
      mesh_name: joined.meshName,
      broker_url: joined.brokerUrl,
      display_name: joined.member.display_name,
      role: joined.member.role,
      peer_type: joined.member.peer_type,
      identity: serializeIdentity(meshIdentity(pending.account, joined.meshId)),
      ...(joined.meshKey ? { mesh_key: toB64u(joined.meshKey) } : {}),
      joined_at: Date.now(),
    });
    print(
      options.json ?? false,
      { mesh_id: joined.meshId, mesh_name: joined.meshName, member: joined.member, name_source: options.name !== undefined ? 'flag' : joined.rejoined ? 'broker' : 'os-user', rejoined: joined.rejoined, has_mesh_key: Boolean(joined.meshKey), account_created: pending.created, file },
      [
        `joined "${joined.meshName}" as ${joined.member.display_name} (${joined.member.role}${joined.member.peer_type === 'ai' ? '' : `, ${joined.member.peer_type}`}); keys saved to ${file}`,
        ...(defaulted ? [defaultNameNote(names[0]!, joined.member.display_name)] : []),
        ...(pending.created ? ['an account seed was created for you (claudemesh identity export moves your identities to another machine)'] : []),
        ...(joined.meshKey ? [] : ['this invite carried no mesh key: you can send and read direct messages, not @group or * messages']),
        'next: claudemesh peer list · claudemesh send <name> <text> · claudemesh inbox',
      ].join('\n'),
    );
  }

  /** A v1 signed link: checked here first, so a tampered link is refused before its broker_url is contacted. */
  private async joinV1(input: Extract<InviteInput, { kind: 'v1' }>, pending: PendingAccount, name: string, peerType: PeerType): Promise<Joined> {
    const { invite, meshKey } = input;
    const check = checkInvite(invite, Date.now());
    if (!check.ok) throw new ProtocolError(check.code);
    this.refuseIfJoined(invite.payload.mesh_id);
    const identity = meshIdentity(pending.account, invite.payload.mesh_id);
    const res = await joinMesh(invite.payload.broker_url, { invite, identity, displayName: name, peerType });
    return { meshId: res.mesh_id, meshName: res.mesh_name, brokerUrl: invite.payload.broker_url, member: member(res.member), ...(meshKey ? { meshKey } : {}), rejoined: res.rejoined };
  }

  /** A short code: resolve names the mesh (to derive the key for it), the claim enrolls and hands over the wrapped mesh key. */
  private async joinV2(input: Extract<InviteInput, { kind: 'v2' }>, broker: string, pending: PendingAccount, name: string, peerType: PeerType): Promise<Joined> {
    const resolved = await resolveShortInvite(broker, input.code);
    this.refuseIfJoined(resolved.mesh_id);
    const identity: Identity = meshIdentity(pending.account, resolved.mesh_id);
    const claimed = await claimShortInvite(broker, { code: input.code, identity, displayName: name, peerType, expectMeshId: resolved.mesh_id, ...issuerOf(resolved) });
    return { meshId: claimed.mesh_id, meshName: claimed.mesh_name, brokerUrl: broker, member: member(claimed.member), meshKey: claimed.meshKey, rejoined: claimed.rejoined };
  }

  /** `--human` is `--peer-type human`; saying both differently is a usage error. */
  private peerTypeOf(options: JoinOptions): PeerType {
    if (options.human && options.peerType && options.peerType !== 'human') throw new CliError(`--human and --peer-type ${options.peerType} contradict each other; pick one`, EXIT.usage);
    return options.human ? 'human' : (options.peerType ?? 'ai');
  }

  private refuseIfJoined(meshId: string): void {
    const already = loadMeshes(claudemeshHome()).find((m) => m.mesh_id === meshId);
    if (already) throw new CliError(`already joined "${already.mesh_name}" as ${already.display_name}; to join again, first run: claudemesh mesh leave ${already.mesh_name} -y`, EXIT.usage);
  }

  @Option({ flags: '-n, --name <name>', description: 'your display name in the mesh (default: your OS user name, made unique)' })
  parseName(value: string): string {
    return value;
  }

  @Option({ flags: '--human', description: 'you are a person at this terminal, not an agent (same as --peer-type human)' })
  parseHuman(): boolean {
    return true;
  }

  @Option({ flags: '-b, --broker <url>', description: 'the broker of a bare invite code (or CLAUDEMESH_BROKER)' })
  parseBroker(value: string): string {
    return value;
  }

  @Option({ flags: '--peer-type <type>', description: 'ai | human | connector (default ai)' })
  parsePeerType(value: string): PeerType {
    if (value !== 'ai' && value !== 'human' && value !== 'connector') throw new CliError('--peer-type must be ai, human or connector', EXIT.usage);
    return value;
  }

  @Option({ flags: '--wait <seconds>', description: 'email invites: how long to wait for the mesh key from the inviting admin (default 60)' })
  parseWait(value: string): number {
    const n = Number(value);
    if (!Number.isFinite(n) || n < 0 || n > 86_400) throw new CliError('--wait wants seconds, from 0 to 86400', EXIT.usage);
    return n;
  }

  @Option({ flags: '--resume', description: 'finish email joins still waiting for their mesh key ([invite] then names the mesh)' })
  parseResume(): boolean {
    return true;
  }

  @Option({ flags: '--json', description: 'machine-readable output' })
  parseJson(): boolean {
    return true;
  }
}

/** The inviter resolve named, which the signed record must match (absent from older brokers). */
const issuerOf = (r: ShortInviteResolveResponse): { expectIssuer?: string } => {
  const inviter = (r as Partial<ShortInviteResolveResponse>).inviter;
  return inviter ? { expectIssuer: inviter.member_pubkey } : {};
};

const member = (m: JoinResponse['member']): Joined['member'] => ({ display_name: m.display_name, role: m.role, peer_type: m.peer_type, member_pubkey: m.member_pubkey });
