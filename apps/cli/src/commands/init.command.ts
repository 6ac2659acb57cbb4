import { claudemeshHome, loadMeshes } from '@claudemesh/core';
import { cryptoReady } from '@claudemesh/crypto';
import { Command, CommandRunner, Option } from 'nest-commander';
import { CliError, EXIT, print } from '../context.js';
import { accountPath, isDerived, loadAccount, newAccount, saveAccount, type Account } from '../identity/account.js';

interface InitOptions {
  force?: boolean;
  json?: boolean;
}

/**
 * `init`: creates the account seed ($CLAUDEMESH_HOME/account.json, 0600). Member identities made
 * afterwards (join, mesh create) derive from it, so one export recreates them on another machine.
 */
@Command({ name: 'init', description: 'Create your account seed, from which your member keys in every mesh derive' })
export class InitCommand extends CommandRunner {
  async run(_args: string[], options: InitOptions): Promise<void> {
    await cryptoReady();
    const home = claudemeshHome();
    const previous = this.previous(home, options.force ?? false);
    const account = newAccount();
    const file = saveAccount(home, account);
    // Meshes derived from a replaced account keep working: their mesh files hold their own seeds.
    const orphaned = previous ? loadMeshes(home).filter((m) => isDerived(previous, m)).length : 0;
    print(
      options.json ?? false,
      { file, account_pubkey: account.accountPubkey, replaced: previous !== null, meshes_no_longer_derived: orphaned },
      [
        `account created in ${file} (account ${account.accountPubkey.slice(0, 16)}…)`,
        ...(orphaned > 0 ? [`${orphaned} mesh${orphaned === 1 ? '' : 'es'} joined with the old account keep their keys in their mesh files`] : []),
        "next: claudemesh join '<invite>' --name <you> · to use the same identities elsewhere: claudemesh identity export --out <file>",
      ].join('\n'),
    );
  }

  /** The account this init would replace; without --force an existing (or damaged) one is refused. */
  private previous(home: string, force: boolean): Account | null {
    let existing: Account | null;
    try {
      existing = loadAccount(home);
    } catch (error) {
      if (!force) throw error;
      return null;
    }
    if (existing && !force) {
      throw new CliError(
        `an account already exists in ${accountPath(home)} (account ${existing.accountPubkey.slice(0, 16)}…) and your member keys derive from it; keep it, or replace it with claudemesh init --force (run claudemesh identity export first)`,
        EXIT.usage,
      );
    }
    return existing;
  }

  @Option({ flags: '--force', description: 'replace an existing account seed' })
  parseForce(): boolean {
    return true;
  }

  @Option({ flags: '--json', description: 'machine-readable output' })
  parseJson(): boolean {
    return true;
  }
}
