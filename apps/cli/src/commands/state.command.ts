import { ProtocolError, type MeshClient, type StateValue, type StoredMesh } from '@claudemesh/core';
import { Command, CommandRunner, Option, SubCommand } from 'nest-commander';
import { CliError, EXIT, MeshVerb, connectTo, print, selectMesh, type CommonOptions } from '../context.js';
import { resolvePeer } from './peer-verify.command.js';
import { Gated } from '../gated.js';
import { safeLine } from '../terminal-text.js';

interface StateOptions extends CommonOptions {
  owner?: string;
}

/** How often a write re-reads and retries after losing a race with another writer (E_CONFLICT). */
const WRITE_ATTEMPTS = 5;

abstract class StateVerb extends MeshVerb<StateOptions> {
  @Option({ flags: '--owner <peer>', description: "whose keys (name or member key); default your own" })
  parseOwner(value: string): string {
    return value;
  }
}

async function withClient<T>(mesh: StoredMesh, work: (c: MeshClient) => Promise<T>): Promise<T> {
  const client = await connectTo(mesh);
  try {
    return await work(client);
  } catch (error) {
    if (error instanceof ProtocolError && error.code === 'E_FORBIDDEN') throw new CliError(`${error.message}; the owner can allow it: claudemesh peer grant <you> state-write`);
    throw error;
  } finally {
    await client.close();
  }
}

async function ownerKey(client: MeshClient, mesh: StoredMesh, selector: string | undefined): Promise<string> {
  if (!selector) return mesh.identity.public_key;
  return resolvePeer(await client.listPeers(), selector).member_pubkey;
}

const row = (v: StateValue, names: Map<string, string>) => ({ owner: v.owner, owner_name: names.get(v.owner) ?? v.owner.slice(0, 16), key: v.key, version: v.version, value: v.text, updated_by: v.updatedBy, updated_at: v.updatedAt });

async function names(client: MeshClient): Promise<Map<string, string>> {
  return new Map((await client.listPeers()).map((p) => [p.member_pubkey, p.display_name]));
}

/** `state set <key> <value>`: writes a shared value (sealed; the broker sees only ciphertext). */
@Gated({ resource: 'state', verb: 'set', peers: (_args, o: StateOptions) => [o.owner] })
@SubCommand({ name: 'set', arguments: '<key> <value>', description: 'Write a shared-state value (yours, or --owner who granted you state-write)' })
export class StateSetCommand extends StateVerb {
  async run([key, value]: string[], options: StateOptions): Promise<void> {
    const mesh = selectMesh(options.mesh);
    const written = await withClient(mesh, async (client) => {
      const owner = await ownerKey(client, mesh, options.owner);
      for (let attempt = 1; ; attempt++) {
        const [current] = await client.stateGet({ owner, key: key! });
        try {
          return await client.stateSet(key!, value!, (current?.version ?? 0) + 1, owner);
        } catch (error) {
          if (!(error instanceof ProtocolError && error.code === 'E_CONFLICT') || attempt >= WRITE_ATTEMPTS) throw error;
        }
      }
    });
    print(options.json ?? false, { owner: written.owner, key: written.key, version: written.version }, `${written.key} = ${JSON.stringify(value)} (version ${written.version})`);
  }
}

/** `state get <key>`: one value. */
@Gated({ resource: 'state', verb: 'get', peers: (_args, o: StateOptions) => [o.owner] })
@SubCommand({ name: 'get', arguments: '<key>', description: 'Read a shared-state value' })
export class StateGetCommand extends StateVerb {
  async run([key]: string[], options: StateOptions): Promise<void> {
    const mesh = selectMesh(options.mesh);
    const { found, peers } = await withClient(mesh, async (client) => {
      const owner = await ownerKey(client, mesh, options.owner);
      return { found: await client.stateGet({ owner, key: key! }), peers: await names(client) };
    });
    if (found.length === 0) throw new CliError(`no key ${key}${options.owner ? ` of ${options.owner}` : ''} that you may read; list what you can: claudemesh state list`, EXIT.notFound);
    print(options.json ?? false, row(found[0]!, peers), found[0]!.text);
  }
}

/** `state list`: every value you may read (or one owner's). */
@Gated({ resource: 'state', verb: 'list', peers: (_args, o: StateOptions) => [o.owner] })
@SubCommand({ name: 'list', aliases: ['ls'], description: 'List the shared state you may read' })
export class StateListCommand extends StateVerb {
  async run(_args: string[], options: StateOptions): Promise<void> {
    const mesh = selectMesh(options.mesh);
    const { found, peers } = await withClient(mesh, async (client) => {
      const owner = options.owner ? await ownerKey(client, mesh, options.owner) : undefined;
      return { found: await client.stateGet(owner ? { owner } : {}), peers: await names(client) };
    });
    const rows = found.map((v) => row(v, peers));
    print(options.json ?? false, rows, rows.length === 0 ? '(no shared state you may read)' : rows.map((r) => `${safeLine(r.owner_name).padEnd(16)} ${safeLine(r.key).padEnd(24)} v${String(r.version).padEnd(4)} ${safeLine(r.value)}`).join('\n'));
  }
}

@Command({ name: 'state', description: 'Shared state: small sealed values per member, readable per grants', subCommands: [StateSetCommand, StateGetCommand, StateListCommand] })
export class StateCommand extends CommandRunner {
  async run(): Promise<void> {
    this.command.help();
  }
}
