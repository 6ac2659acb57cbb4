import { claudemeshHome, type PeerInfo } from '@claudemesh/core';
import { cryptoReady, safetyNumber } from '@claudemesh/crypto';
import { Option, SubCommand } from 'nest-commander';
import { withBackend } from '../backend.js';
import { CliError, EXIT, MeshVerb, selectMesh, type CommonOptions } from '../context.js';
import { LocalStore } from '../store/local-store.js';
import { matchPeerName } from '../peer-names.js';
import { Gated } from '../gated.js';
import { qrText, stdoutIsTerminal } from '../qr-text.js';
import { safeText } from '../terminal-text.js';

interface VerifyOptions extends CommonOptions {
  confirm?: string;
  qr?: boolean;
}

/** What a QR code of a safety number carries: the 30 digits, no spaces, behind this prefix. */
export const SAFETY_QR_PREFIX = 'claudemesh-safety:';

export function safetyQrText(number: string): string {
  return `${SAFETY_QR_PREFIX}${number.replace(/\s+/g, '')}`;
}

/** A member key as 16 groups of 4 hex digits, for reading aloud. */
export function fingerprint(memberPubkey: string): string {
  return memberPubkey.match(/.{1,4}/g)!.join(' ');
}

/**
 * The peer named by display name (exact, else unique ignoring case), full member key, or a unique
 * member-key prefix (8+ hex, as `peer list` shows 16). Not found is exit 4, with close names.
 */
export function resolvePeer(peers: PeerInfo[], selector: string): PeerInfo {
  if (/^[0-9a-f]{8,64}$/.test(selector) && !peers.some((p) => p.display_name === selector)) {
    const matches = peers.filter((p) => p.member_pubkey.startsWith(selector));
    if (matches.length === 1) return matches[0]!;
    if (matches.length > 1) throw new CliError(`"${selector}" matches several members (${matches.map((p) => p.display_name).join(', ')}); give more of the key`, EXIT.usage);
  }
  const match = matchPeerName(peers, selector);
  if (match.ok) return peers.find((p) => p.display_name === match.name)!;
  throw new CliError(`${match.message}; see who is there: claudemesh peer list`, EXIT.notFound);
}

/**
 * `peer verify <peer>`: the safety number of your member key and the peer's, to compare out of
 * band (docs/crypto.md "Verifying a peer"); `--confirm <digits>` records the peer's key as verified
 * when the digits match, after which `send` warns loudly if that name ever comes with another key.
 */
@Gated({ resource: 'peer', verb: 'verify', peers: ([peer]) => [peer] })
@SubCommand({
  name: 'verify',
  arguments: '<peer> [digits...]',
  description: 'Show the safety number you share with a peer; --confirm <digits> marks its key verified',
})
export class PeerVerifyCommand extends MeshVerb<VerifyOptions> {
  async run([selector, ...rest]: string[], options: VerifyOptions): Promise<void> {
    // `--confirm 12345 67890 …` unquoted: the groups after the first arrive as positionals.
    if (rest.length > 0 && options.confirm === undefined) throw new CliError(`unexpected "${rest.join(' ')}"; usage: claudemesh peer verify <peer> [--confirm <digits>]`, EXIT.usage);
    const typed = options.confirm === undefined ? undefined : [options.confirm, ...rest].join('').replace(/[\s-]+/g, '');
    if (typed !== undefined && !/^[0-9]{30}$/.test(typed)) throw new CliError('--confirm wants the 30 digits of the safety number (spaces allowed)', EXIT.usage);

    const mesh = selectMesh(options.mesh);
    const mine = mesh.identity.public_key;
    const peer = resolvePeer((await withBackend((b) => b.peers(mesh))).peers, selector!);
    if (peer.member_pubkey === mine) throw new CliError('that is you; verify someone else (claudemesh peer list)', EXIT.usage);
    await cryptoReady();
    const number = safetyNumber(mine, peer.member_pubkey);

    const store = LocalStore.open(claudemeshHome());
    let verifiedAt: number | null;
    let previous: string | null;
    try {
      if (typed !== undefined) {
        if (typed !== number.replace(/ /g, '')) {
          throw new CliError(
            `the digits do not match the safety number you share with ${peer.display_name}; nothing was recorded. Compare again; if they still differ, someone may be standing between you (the broker could have swapped a key): do not trust this key`,
            EXIT.failure,
          );
        }
        verifiedAt = store.markVerified(mesh.mesh_id, peer.member_pubkey, peer.display_name).verified_at;
      } else {
        verifiedAt = store.verifiedPeer(mesh.mesh_id, peer.member_pubkey)?.verified_at ?? null;
      }
      const other = store.verifiedByName(mesh.mesh_id, peer.display_name).find((v) => v.member_pubkey !== peer.member_pubkey);
      previous = verifiedAt === null && other ? other.member_pubkey : null;
    } finally {
      store.close();
    }

    const verified = verifiedAt !== null;
    if (options.json) {
      process.stdout.write(`${JSON.stringify({ peer: peer.display_name, member_pubkey: peer.member_pubkey, safety_number: number, verified })}\n`);
      return;
    }
    if (typed !== undefined) {
      process.stdout.write(`${safeText(`verified: ${peer.display_name}'s key ${peer.member_pubkey.slice(0, 16)}… matches the safety number ${number}; claudemesh will warn if ${peer.display_name} ever comes with another key`)}\n`);
      return;
    }
    const lines = [
      `safety number with ${peer.display_name} in "${mesh.mesh_name}":`,
      '',
      `    ${number}`,
      '',
      `  ${`you (${mesh.display_name})`.padEnd(22)}  ${fingerprint(mine)}`,
      `  ${peer.display_name.padEnd(22)}  ${fingerprint(peer.member_pubkey)}`,
      '',
      `Read the digits to each other over a channel you trust (in person, a call), not over this mesh; they match only if neither key was swapped. ${peer.display_name} runs: claudemesh peer verify ${mesh.display_name}`,
      `Then run \`claudemesh peer verify ${peer.display_name} --confirm <digits>\``,
      verified
        ? `status: verified ${new Date(verifiedAt!).toISOString()}`
        : previous
          ? `status: NOT verified — ${peer.display_name} had the key ${previous.slice(0, 16)}… when you verified it; this is a different key`
          : 'status: not verified',
    ];
    if (options.qr) process.stdout.write(await qrText(safetyQrText(number), stdoutIsTerminal()));
    process.stdout.write(`${safeText(lines.join('\n'))}\n`);
  }

  @Option({ flags: '--confirm <digits>', description: 'the digits your peer read to you: records its key as verified if they match' })
  parseConfirm(value: string): string {
    return value;
  }

  @Option({ flags: '--qr', description: 'also show the number as a QR code (claudemesh-safety:<30 digits>)' })
  parseQr(): boolean {
    return true;
  }
}
