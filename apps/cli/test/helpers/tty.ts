import { spawn } from 'node:child_process';
import { shellQuote } from '../../src/claude/shell-quote.js';
import { CLI } from './cli.js';

export interface TtyResult {
  code: number | null;
  /** Everything the terminal showed (stdout and stderr together; script(1) turns \n into \r\n). */
  out: string;
}

/**
 * Runs the real CLI on a pseudo-terminal (script(1)), so stdin, stdout and stderr are all TTYs.
 * `answer` is typed once the output contains `when`; with no answer the terminal stays silent.
 */
export function cliOnTty(args: string[], env: Record<string, string>, reply?: { when: string; answer: string }): Promise<TtyResult> {
  const command = [process.execPath, CLI, ...args].map(shellQuote).join(' ');
  return new Promise((resolve) => {
    const child = spawn('script', ['-qec', command, '/dev/null'], { env: { ...process.env, ...env } });
    let out = '';
    let answered = false;
    // The pty may close before a late write lands; the exit code and output are what is checked.
    child.stdin.on('error', () => undefined);
    // Decoded as a stream: a chunk may end in the middle of a multi-byte character (the QR code's ▀).
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (d: string) => {
      out += d;
      if (reply && !answered && out.includes(reply.when)) {
        answered = true;
        child.stdin.write(`${reply.answer}\n`);
      }
    });
    child.on('exit', (code) => resolve({ code, out }));
  });
}
