import { ProtocolError } from '@claudemesh/core';
import { userInfo } from 'node:os';

/** How many names `join` tries when the default one is taken: alice, alice-2, … alice-20. */
export const DEFAULT_NAME_TRIES = 20;
const MAX_NAME = 64;

/**
 * A display name from any text (protocol DisplayName: 1–64 of letters, digits, `. _ -`, a letter or
 * digit first): accents dropped, anything else becomes `-`. Null when nothing usable is left.
 */
export function toDisplayName(raw: string): string | null {
  const ascii = raw.normalize('NFKD').replace(/[\u0300-\u036f]/g, '');
  const name = ascii
    .replace(/[^A-Za-z0-9._-]+/g, '-')
    .replace(/-{2,}/g, '-')
    .replace(/^[^A-Za-z0-9]+/, '')
    .slice(0, MAX_NAME - 4)
    .replace(/[-.]+$/, '');
  return name === '' ? null : name;
}

/** The OS user name as a display name: $USER (or LOGNAME, USERNAME), else the account's; `peer` when none is usable. */
export function defaultDisplayName(env: NodeJS.ProcessEnv = process.env): string {
  let account: string | undefined;
  try {
    account = userInfo().username;
  } catch {
    // no passwd entry (some containers)
  }
  for (const candidate of [env['USER'], env['LOGNAME'], env['USERNAME'], account]) {
    const name = candidate ? toDisplayName(candidate) : null;
    if (name) return name;
  }
  return 'peer';
}

/** `base`, then `base-2`, `base-3`, …: the names tried, in order, until one is free. */
export function nameCandidates(base: string, tries = DEFAULT_NAME_TRIES): string[] {
  return [base, ...Array.from({ length: tries - 1 }, (_, i) => `${base}-${i + 2}`)];
}

/**
 * Runs `attempt` with each name in turn while the broker answers E_NAME_TAKEN (a refused claim
 * burns no invite use, protocol §9.4 and §9b); any other failure, or the last name taken, throws.
 */
export async function firstFreeName<T>(names: readonly string[], attempt: (name: string) => Promise<T>): Promise<{ name: string; result: T }> {
  for (let i = 0; ; i++) {
    const name = names[i]!;
    try {
      return { name, result: await attempt(name) };
    } catch (error) {
      if (i + 1 < names.length && error instanceof ProtocolError && error.code === 'E_NAME_TAKEN') continue;
      throw error;
    }
  }
}
