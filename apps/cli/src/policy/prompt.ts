import { createInterface } from 'node:readline';

/** True when a person can be asked: stdin and stderr are both a terminal (never for the MCP pipe). */
export const hasTerminal = (): boolean => Boolean(process.stdin.isTTY && process.stderr.isTTY);

/**
 * Asks a yes/no question on stderr and reads the answer from the terminal. Only y or yes (any case)
 * is a yes; Enter, anything else, Ctrl-C or Ctrl-D is a no.
 */
export function confirm(question: string): Promise<boolean> {
  return new Promise((resolve) => {
    const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: true });
    let answered = false;
    const done = (yes: boolean): void => {
      if (answered) return;
      answered = true;
      rl.close();
      resolve(yes);
    };
    rl.once('SIGINT', () => {
      process.stderr.write('\n');
      done(false);
    });
    rl.once('close', () => done(false));
    rl.question(`${question} [y/N] `, (answer) => done(/^\s*y(es)?\s*$/i.test(answer)));
  });
}
