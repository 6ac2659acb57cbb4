import type { z } from 'zod';

/** What an environment variable's name may look like (`TELEGRAM_BOT_TOKEN`). */
export const ENV_NAME_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * A secret is given either inline (`token`) or as the name of an environment variable
 * (`token_env`): exactly one of the two. The message names the fields, never a value.
 */
export function requireOneOf(value: Record<string, unknown>, name: string, ctx: z.RefinementCtx, path: PropertyKey[] = []): void {
  const inline = value[name] !== undefined;
  const fromEnv = value[`${name}_env`] !== undefined;
  if (inline && fromEnv) ctx.addIssue({ code: 'custom', path: [...path, name], message: `give ${name} or ${name}_env, not both` });
  if (!inline && !fromEnv) ctx.addIssue({ code: 'custom', path: [...path, name], message: `${name} (the value) or ${name}_env (the name of an environment variable holding it) is required` });
}

/** The secret's value: inline, or read from the environment (a missing or empty variable is an error naming the variable). */
export function resolveSecret(inline: string | undefined, envName: string | undefined, env: NodeJS.ProcessEnv, field: string): string {
  if (inline !== undefined) return inline;
  const value = envName === undefined ? undefined : env[envName];
  if (value === undefined || value === '') throw new Error(`${field}_env: the environment variable ${envName ?? '(none)'} is not set or empty`);
  return value;
}

/** Replaces every occurrence of the secrets in `text` (error messages of libraries that print URLs with the bot token in them). */
export function redact(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const s of secrets) if (s.length > 0) out = out.split(s).join('<redacted>');
  return out;
}
