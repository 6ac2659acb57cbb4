import { CAPABILITIES, DEFAULT_CAPABILITIES, claudemeshHome, type Capability, type GrantEntry, type MeshClient, type StoredMesh } from '@claudemesh/core';
import { SubCommand } from 'nest-commander';
import { CliError, EXIT, MeshVerb, connectTo, print, selectMesh, type CommonOptions } from '../context.js';
import { Gated } from '../gated.js';
import { LocalStore } from '../store/local-store.js';
import { resolvePeer } from './peer-verify.command.js';

const CAPABILITY_HELP = `capabilities: ${CAPABILITIES.join(', ')} (or all); defaults: ${DEFAULT_CAPABILITIES.join(', ')}`;

function parseCapabilities(words: string[]): Capability[] {
  if (words.length === 0) throw new CliError(`name at least one capability; ${CAPABILITY_HELP}`, EXIT.usage);
  const out = new Set<Capability>();
  for (const w of words.flatMap((x) => x.split(','))) {
    if (w === 'all') CAPABILITIES.forEach((c) => out.add(c));
    else if ((CAPABILITIES as readonly string[]).includes(w)) out.add(w as Capability);
    else throw new CliError(`unknown capability "${w}"; ${CAPABILITY_HELP}`, EXIT.usage);
  }
  return [...out];
}

/**
 * Reads the member's grants from the broker, applies `change` to one peer's, writes it back and
 * refreshes the local copy the daemon and push-pipe check every push against.
 */
async function changeGrant(
  mesh: StoredMesh,
  selector: string,
  change: (current: { capabilities: Set<Capability>; blocked: boolean }) => { capabilities: Capability[]; blocked: boolean },
): Promise<GrantEntry> {
  const client = await connectTo(mesh);
  try {
    const peer = resolvePeer(await client.listPeers(), selector);
    if (peer.member_pubkey === mesh.identity.public_key) throw new CliError('grants are about others; name another member (claudemesh peer list)', EXIT.usage);
    const row = (await client.listGrants()).find((g) => g.peer === peer.member_pubkey);
    const next = change({ capabilities: new Set(row ? row.capabilities : DEFAULT_CAPABILITIES), blocked: row?.blocked ?? false });
    const written = await client.setGrants(peer.member_pubkey, next.capabilities, next.blocked);
    await syncLocal(mesh, client);
    return written;
  } finally {
    await client.close();
  }
}

async function syncLocal(mesh: StoredMesh, client: MeshClient): Promise<GrantEntry[]> {
  const grants = await client.listGrants();
  const store = LocalStore.open(claudemeshHome());
  try {
    store.replaceGrants(mesh.mesh_id, grants);
  } finally {
    store.close();
  }
  return grants;
}

function describeGrant(g: GrantEntry): string {
  if (g.blocked) return `${g.display_name}: blocked (nothing it sends reaches you; it sees you offline)`;
  const missing = CAPABILITIES.filter((c) => !g.capabilities.includes(c));
  return `${g.display_name}: ${g.capabilities.length ? g.capabilities.join(', ') : '(nothing)'}${missing.length ? `  — not: ${missing.join(', ')}` : ''}`;
}

/** `peer grant <peer> <capability…>`: lets a peer do more to you. */
@Gated({ resource: 'peer', verb: 'grant', peers: ([peer]) => [peer] })
@SubCommand({ name: 'grant', arguments: '<peer> <capabilities...>', description: `Let a peer do more to you (${CAPABILITIES.join(', ')}, all)` })
export class PeerGrantCommand extends MeshVerb {
  async run([selector, ...caps]: string[], options: CommonOptions): Promise<void> {
    const added = parseCapabilities(caps);
    const g = await changeGrant(selectMesh(options.mesh), selector!, (cur) => ({ capabilities: [...new Set([...cur.capabilities, ...added])], blocked: cur.blocked }));
    print(options.json ?? false, g, `${describeGrant(g)}${g.blocked ? '\n(still blocked: claudemesh peer unblock ' + g.display_name + ')' : ''}`);
  }
}

/** `peer revoke <peer> <capability…>`: takes capabilities back. */
@Gated({ resource: 'peer', verb: 'revoke', peers: ([peer]) => [peer] })
@SubCommand({ name: 'revoke', arguments: '<peer> <capabilities...>', description: 'Take capabilities back from a peer' })
export class PeerRevokeCommand extends MeshVerb {
  async run([selector, ...caps]: string[], options: CommonOptions): Promise<void> {
    const removed = new Set(parseCapabilities(caps));
    const g = await changeGrant(selectMesh(options.mesh), selector!, (cur) => ({ capabilities: [...cur.capabilities].filter((c) => !removed.has(c)), blocked: cur.blocked }));
    print(options.json ?? false, g, describeGrant(g));
  }
}

/** `peer block <peer>`: refuses the peer everything (unblock returns it to the defaults). */
@Gated({ resource: 'peer', verb: 'block', peers: ([peer]) => [peer] })
@SubCommand({ name: 'block', arguments: '<peer>', description: 'Refuse a peer everything: its messages are dropped and it sees you offline' })
export class PeerBlockCommand extends MeshVerb {
  async run([selector]: string[], options: CommonOptions): Promise<void> {
    const g = await changeGrant(selectMesh(options.mesh), selector!, () => ({ capabilities: [], blocked: true }));
    print(options.json ?? false, g, `${describeGrant(g)}\nundo: claudemesh peer unblock ${g.display_name}`);
  }
}

/** `peer unblock <peer>`: back to the default capabilities. */
@Gated({ resource: 'peer', verb: 'unblock', peers: ([peer]) => [peer] })
@SubCommand({ name: 'unblock', arguments: '<peer>', description: 'Unblock a peer (back to the default capabilities)' })
export class PeerUnblockCommand extends MeshVerb {
  async run([selector]: string[], options: CommonOptions): Promise<void> {
    const g = await changeGrant(selectMesh(options.mesh), selector!, () => ({ capabilities: [...DEFAULT_CAPABILITIES], blocked: false }));
    print(options.json ?? false, g, describeGrant(g));
  }
}

/** `peer grants`: every peer whose grant differs from the defaults (also refreshes the local copy). */
@Gated({ resource: 'peer', verb: 'grants' })
@SubCommand({ name: 'grants', description: 'What each peer may do to you (only peers that differ from the defaults)' })
export class PeerGrantsCommand extends MeshVerb {
  async run(_args: string[], options: CommonOptions): Promise<void> {
    const mesh = selectMesh(options.mesh);
    const client = await connectTo(mesh);
    let grants: GrantEntry[];
    try {
      grants = await syncLocal(mesh, client);
    } finally {
      await client.close();
    }
    const text = [`every other peer: ${DEFAULT_CAPABILITIES.join(', ')} (the defaults)`, ...grants.map(describeGrant)].join('\n');
    print(options.json ?? false, { defaults: DEFAULT_CAPABILITIES, grants }, text);
  }
}
