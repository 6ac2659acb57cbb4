import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

/** The CLI as users run it (bin → bundle or dist). */
export const CLI = fileURLToPath(new URL('../../bin/claudemesh.js', import.meta.url));
const run = promisify(execFile);

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the real CLI in its own process with CLAUDEMESH_HOME = `home`; never throws on a non-zero exit. */
export async function cli(home: string, args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  try {
    const { stdout, stderr } = await run(process.execPath, [CLI, ...args], { env: { ...process.env, CLAUDEMESH_HOME: home, ...env } });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

export const json = <T>(r: { stdout: string }): T => JSON.parse(r.stdout) as T;
