import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { Writable } from 'node:stream';
import { CliError, EXIT } from '../context.js';

export const PASSPHRASE_ENV = 'CLAUDEMESH_PASSPHRASE';

export interface PassphraseOptions {
  passphraseFile?: string;
  /** Ask twice on a terminal (for a new backup); restore asks once. */
  confirm: boolean;
}

/**
 * The backup passphrase, from (in this order) --passphrase-file, $CLAUDEMESH_PASSPHRASE, or a prompt
 * on the terminal without echo. With none of them (no TTY) it is an error saying how to pass one.
 */
export async function obtainPassphrase(options: PassphraseOptions): Promise<string> {
  if (options.passphraseFile !== undefined) return fromFile(options.passphraseFile);
  const env = process.env[PASSPHRASE_ENV];
  if (env !== undefined && env !== '') return env;
  if (!process.stdin.isTTY || !process.stderr.isTTY) {
    throw new CliError(`no passphrase: run this in a terminal to be asked, or set ${PASSPHRASE_ENV}, or pass --passphrase-file <path>`, EXIT.usage);
  }
  const [first, second] = await askHidden(options.confirm ? ['backup passphrase: ', 'again, to confirm: '] : ['backup passphrase: ']);
  if (options.confirm && first !== second) throw new CliError('the two passphrases differ; nothing was written — run it again', EXIT.usage);
  return first!;
}

/** The file's text without one trailing newline (so `echo … > file` works). */
function fromFile(path: string): string {
  let text: string;
  try {
    text = readFileSync(resolve(path), 'utf8');
  } catch (error) {
    throw new CliError(`cannot read --passphrase-file ${path} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`, EXIT.usage);
  }
  const passphrase = text.replace(/\r?\n$/, '');
  if (passphrase === '') throw new CliError(`--passphrase-file ${path} is empty`, EXIT.usage);
  return passphrase;
}

/** Asks each question on stderr, reading a line from the terminal with echo off. Ctrl-C / Ctrl-D cancel. */
async function askHidden(questions: string[]): Promise<string[]> {
  let muted = false;
  const output = new Writable({
    write(chunk: Buffer | string, _encoding, callback) {
      if (!muted) process.stderr.write(chunk);
      callback();
    },
  });
  const rl = createInterface({ input: process.stdin, output, terminal: true });
  const answers: string[] = [];
  try {
    for (const question of questions) {
      answers.push(
        await new Promise<string>((resolvePromise, reject) => {
          const cancel = (): void => reject(new CliError('cancelled; nothing was written', EXIT.failure));
          rl.once('SIGINT', cancel);
          rl.once('close', cancel);
          muted = false;
          rl.question(question, (answer) => {
            rl.off('SIGINT', cancel);
            rl.off('close', cancel);
            resolvePromise(answer);
          });
          muted = true;
        }),
      );
      process.stderr.write('\n');
    }
  } finally {
    muted = false;
    rl.close();
  }
  return answers;
}
