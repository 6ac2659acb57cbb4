import { CommandRunner, Option } from 'nest-commander';

/** The options `backup` and `restore` share: where the passphrase comes from, and --json. */
export abstract class PassphraseVerb extends CommandRunner {
  @Option({ flags: '--passphrase-file <path>', description: 'read the passphrase from this file (else CLAUDEMESH_PASSPHRASE, else a prompt)' })
  parsePassphraseFile(value: string): string {
    return value;
  }

  @Option({ flags: '--json', description: 'machine-readable output' })
  parseJson(): boolean {
    return true;
  }
}
