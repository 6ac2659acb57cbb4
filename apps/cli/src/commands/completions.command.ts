import { Command, CommandRunner, Help } from 'nest-commander';
import { completionScript, fromCommander, SHELLS, type Shell } from '../completions/index.js';
import { CliError, EXIT } from '../context.js';

const INSTALL = `
Install (the script is generated from this CLI's command tree; regenerate after an upgrade):
  bash  claudemesh completions bash > ~/.local/share/bash-completion/completions/claudemesh
        (or add  source <(claudemesh completions bash)  to ~/.bashrc)
  zsh   claudemesh completions zsh > "\${fpath[1]}/_claudemesh"   (then restart zsh)
        (or add  source <(claudemesh completions zsh)  to ~/.zshrc, after compinit)
  fish  claudemesh completions fish > ~/.config/fish/completions/claudemesh.fish`;

/** `completions zsh|bash|fish`: a completion script generated from the live command tree. */
@Command({ name: 'completions', arguments: '<shell>', description: 'Print a shell completion script: bash, zsh or fish' })
export class CompletionsCommand extends CommandRunner {
  async run([shell]: string[]): Promise<void> {
    if (!SHELLS.includes(shell as Shell)) throw new CliError(`unknown shell "${shell ?? ''}"; use one of: ${SHELLS.join(', ')}`, EXIT.usage);
    const root = this.command.parent;
    if (!root) throw new CliError('completions: no command tree above this verb');
    process.stdout.write(completionScript(shell as Shell, fromCommander(root)));
  }

  @Help('after')
  installHint(): string {
    return INSTALL;
  }
}
