import { createInterface } from 'node:readline';

/** True when a person can be asked: stdin and stderr are both a terminal (never for the MCP pipe). */
export const hasTerminal = (): boolean => Boolean(process.stdin.isTTY && process.stderr.isTTY);

/** Asks on stderr and reads one line from the terminal; Ctrl-C or Ctrl-D is a no. */
function ask(prompt: string, accept: RegExp): Promise<boolean> {
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
    rl.question(prompt, (answer) => done(accept.test(answer)));
  });
}

/** A yes/no question: only y or yes (any case) is a yes; Enter or anything else is a no. */
export function confirm(question: string): Promise<boolean> {
  return ask(`${question} [y/N] `, /^\s*y(es)?\s*$/i);
}

/**
 * Asks for the word `yes` itself (any case): for what a web page can start with one click, so a
 * stray Enter or y never goes on.
 */
export function confirmYes(question: string): Promise<boolean> {
  return ask(`${question} Type yes to go on [no]: `, /^\s*yes\s*$/i);
}
