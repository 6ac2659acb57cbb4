import { claudemeshHome, loadMeshes, saveMesh, type StoredMesh } from '@claudemesh/core';
import { cryptoReady } from '@claudemesh/crypto';
import { chmodSync, existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Command, CommandRunner, Option } from 'nest-commander';
import { CliError, EXIT, print } from '../context.js';
import { isDerived, loadAccount, saveAccount, type Account } from '../identity/account.js';
import { buildExport, decodeExport, encodeExport } from '../identity/export-format.js';

interface IdentityOptions {
  out?: string;
  force?: boolean;
  json?: boolean;
}

const VERBS = ['export', 'import', 'show'] as const;

/**
 * `identity export | import | show`: moves the account seed and the joined meshes between machines,
 * so the same member keys act from both (docs/cli.md). One command with a verb argument: the verbs
 * share their options and need no registration of their own.
 */
@Command({
  name: 'identity',
  arguments: '<verb> [file]',
  description: 'Your identity across machines: export [--out file] · import <file|-> [--force] · show',
})
export class IdentityCommand extends CommandRunner {
  async run([verb, file]: string[], options: IdentityOptions): Promise<void> {
    await cryptoReady();
    const home = claudemeshHome();
    if (verb === 'export') return this.export(home, options);
    if (verb === 'import') return this.import(home, file, options);
    if (verb === 'show') return this.show(home, options);
    throw new CliError(`unknown identity verb "${verb ?? ''}"; use one of: ${VERBS.join(', ')}`, EXIT.usage);
  }

  private export(home: string, options: IdentityOptions): void {
    const account = loadAccount(home);
    const meshes = loadMeshes(home);
    if (!account && meshes.length === 0) throw new CliError(`nothing to export under ${home}; run claudemesh init, or join a mesh first`, EXIT.noMesh);
    const text = encodeExport(buildExport(account, meshes));
    const summary = { account_pubkey: account?.accountPubkey ?? null, meshes: meshes.map((m) => ({ mesh_name: m.mesh_name, mesh_id: m.mesh_id, derived: isDerived(account, m) })) };
    if (!options.out) {
      process.stderr.write('claudemesh: this export is SECRET (it holds your keys); write it to a file with --out <file> rather than a terminal or a log\n');
      if (options.json) print(true, { ...summary, export: text }, '');
      else process.stdout.write(text);
      return;
    }
    const target = resolve(options.out);
    if (existsSync(target) && !options.force) throw new CliError(`${target} exists; pick another --out or add --force to overwrite it`, EXIT.usage);
    writeSecret(target, text);
    print(options.json ?? false, { file: target, ...summary }, `identity exported to ${target} (0600): ${meshes.length} mesh${meshes.length === 1 ? '' : 'es'}\nnext, on the other machine: claudemesh identity import ${target}`);
  }

  private import(home: string, file: string | undefined, options: IdentityOptions): void {
    if (!file) throw new CliError('which export? claudemesh identity import <file>, or - to read it from stdin', EXIT.usage);
    const text = readExport(file);
    const incoming = decodeExport(text);
    const current = this.currentAccount(home, options.force ?? false);
    const replaceAccount = this.checkAccount(current, incoming.account, options.force ?? false);
    this.checkMeshes(home, incoming.meshes, options.force ?? false);
    if (replaceAccount && incoming.account) saveAccount(home, incoming.account);
    for (const mesh of incoming.meshes) saveMesh(home, mesh);
    const rows = incoming.meshes.map((m) => ({ mesh_id: m.mesh_id, mesh_name: m.mesh_name, display_name: m.display_name, member_pubkey: m.identity.public_key }));
    print(
      options.json ?? false,
      { account_pubkey: incoming.account?.accountPubkey ?? current?.accountPubkey ?? null, meshes: rows },
      [`imported ${rows.length} mesh${rows.length === 1 ? '' : 'es'} into ${home}:`, ...rows.map((r) => `  ${r.mesh_name} as ${r.display_name}  member key ${r.member_pubkey}`), 'next: claudemesh whoami · claudemesh peer list'].join('\n'),
    );
  }

  /** The home's account; a damaged one blocks the import unless --force replaces it. */
  private currentAccount(home: string, force: boolean): Account | null {
    try {
      return loadAccount(home);
    } catch (error) {
      if (force) return null;
      throw error;
    }
  }

  /** Whether to write the incoming account; a different existing one is kept unless --force. */
  private checkAccount(current: Account | null, incoming: Account | null, force: boolean): boolean {
    if (!incoming) return false;
    if (!current) return true;
    if (current.accountPubkey === incoming.accountPubkey) return false;
    if (force) return true;
    throw new CliError(
      `this home already has a different account (${current.accountPubkey.slice(0, 16)}…, the export holds ${incoming.accountPubkey.slice(0, 16)}…); nothing was written — import into another CLAUDEMESH_HOME, or replace it with --force (export it first)`,
      EXIT.usage,
    );
  }

  /** A mesh file that holds another member key for the same mesh is never overwritten silently. */
  private checkMeshes(home: string, meshes: StoredMesh[], force: boolean): void {
    if (force) return;
    const existing = new Map(loadMeshes(home).map((m) => [m.mesh_id, m]));
    for (const m of meshes) {
      const mine = existing.get(m.mesh_id);
      if (mine && mine.identity.public_key !== m.identity.public_key) {
        throw new CliError(`"${mine.mesh_name}" is already joined here with another member key; nothing was written — leave it first (claudemesh mesh leave ${mine.mesh_name} -y) or add --force`, EXIT.usage);
      }
    }
  }

  private show(home: string, options: IdentityOptions): void {
    const account = loadAccount(home);
    const meshes = loadMeshes(home).map((m) => ({ mesh_name: m.mesh_name, mesh_id: m.mesh_id, member_pubkey: m.identity.public_key, derived: isDerived(account, m) }));
    print(
      options.json ?? false,
      { account_pubkey: account?.accountPubkey ?? null, meshes },
      [
        account ? `account ${account.accountPubkey}` : 'no account seed yet (claudemesh init, or the next join, creates one)',
        ...meshes.map((m) => `  ${m.mesh_name.padEnd(20)} ${m.derived ? 'derived from the account' : 'own random key (exported with its seed)'}  ${m.member_pubkey}`),
      ].join('\n'),
    );
  }

  @Option({ flags: '-o, --out <file>', description: 'export: write to this file (0600) instead of stdout' })
  parseOut(value: string): string {
    return value;
  }

  @Option({ flags: '--force', description: 'export: overwrite --out; import: replace a different account or mesh key' })
  parseForce(): boolean {
    return true;
  }

  @Option({ flags: '--json', description: 'machine-readable output' })
  parseJson(): boolean {
    return true;
  }
}

function readExport(file: string): string {
  try {
    return readFileSync(file === '-' ? 0 : resolve(file), 'utf8');
  } catch (error) {
    throw new CliError(`cannot read ${file === '-' ? 'stdin' : file} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`, EXIT.usage);
  }
}

/** A secret file: created 0600, written whole, then moved into place. */
function writeSecret(target: string, text: string): void {
  const tmp = `${target}.${process.pid}.tmp`;
  writeFileSync(tmp, text, { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, target);
}
