/**
 * Secrets in a surface config: each given inline (`app_secret`) or as the name of an environment
 * variable holding it (`app_secret_env`), exactly one of the two. Values never reach a log line or
 * an error message; only field and variable names do.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';

export const EnvVarName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'the name of an environment variable (letters, digits and _)');

/** For a `superRefine`: one issue per secret given both ways or not at all. */
export function checkSecretPairs(config: Record<string, unknown>, names: readonly string[], ctx: z.RefinementCtx): void {
  for (const name of names) {
    const inline = config[name] !== undefined;
    const fromEnv = config[`${name}_env`] !== undefined;
    if (inline && fromEnv) ctx.addIssue({ code: 'custom', path: [name], message: `give ${name} or ${name}_env, not both` });
    if (!inline && !fromEnv) {
      ctx.addIssue({ code: 'custom', path: [name], message: `missing: give ${name}, or ${name}_env naming an environment variable that holds it` });
    }
  }
}

export function resolveSecret(name: string, inline: string | undefined, envName: string | undefined, env: NodeJS.ProcessEnv): string {
  if (inline !== undefined) return inline;
  const value = envName === undefined ? undefined : env[envName];
  if (value === undefined || value === '') throw new Error(`${name}_env: the environment variable ${envName ?? '(none)'} is not set or empty`);
  return value;
}

/** Constant time, lengths included: both sides are hashed to 32 bytes first. */
export function sameSecret(given: string, expected: string): boolean {
  const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();
  return timingSafeEqual(digest(given), digest(expected));
}
