import { Command, CommandRunner, Option } from 'nest-commander';
import { drainStdin, statusLineText } from '../claude/status-line.js';
import { safeLine } from '../terminal-text.js';

interface StatusLineOptions {
  mesh?: string;
}

/**
 * Claude Code's status line: one line of mesh presence, exit 0 whatever happens, since Claude
 * Code shows whatever we print. Unknown flags are tolerated for the same reason.
 */
@Command({ name: 'status-line', description: 'Print one line of mesh presence for the Claude Code status line', allowUnknownOptions: true, allowExcessArgs: true })
export class StatusLineCommand extends CommandRunner {
  async run(_args: string[], options: StatusLineOptions): Promise<void> {
    process.stdout.on('error', () => process.exit(0)); // Claude Code may close the pipe early
    const [line] = await Promise.all([statusLineText({ ...(options.mesh ? { mesh: options.mesh } : {}) }).catch(() => '◇ claudemesh · offline'), drainStdin()]);
    // exit once the line is flushed: a connection still closing must not hold the status line up
    // One line, and nothing in it (a mesh name from the broker) may drive the terminal Claude Code draws in.
    process.stdout.write(`${safeLine(line)}\n`, () => process.exit(0));
  }

  @Option({ flags: '-m, --mesh <mesh>', description: 'mesh name or id (default: the one joined mesh)' })
  parseMesh(value: string): string {
    return value;
  }
}
