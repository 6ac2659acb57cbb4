/**
 * Exit codes (docs/cli.md "Exit codes"): 0 ok, 1 runtime failure (the broker refused, something
 * broke), 2 usage error, 3 nothing joined / mesh not found, 4 not found (peer, topic, message, key),
 * 5 the broker is unreachable, 6 refused by the policy (docs/cli.md "Policy and audit"), 7 approval
 * mode plan: nothing was run, 8 pending: done so far, waiting on someone else (an email join whose
 * mesh key has not arrived). In a module of their own so the daemon and the fast path need not load
 * the command tree.
 */
export const EXIT = { ok: 0, failure: 1, usage: 2, noMesh: 3, notFound: 4, unreachable: 5, denied: 6, planned: 7, pending: 8 } as const;

/**
 * The one rule for a broker's refusal, wherever it surfaces (WebSocket, REST, through the daemon):
 * the command line named something that does not exist → 4; the command line itself is wrong (a
 * value the broker's schema or size limit rejects) → 2; any other refusal → 1. Usage errors found
 * before anything is sent (unknown command or option, missing argument, bad value) are 2 as well.
 */
const NOT_FOUND = new Set(['E_UNKNOWN_TARGET', 'E_NOT_FOUND']);
const USAGE = new Set(['E_SCHEMA', 'E_TOO_LARGE']);

export function exitCodeOf(wireCode: string | undefined): number {
  if (wireCode === undefined) return EXIT.failure;
  if (NOT_FOUND.has(wireCode)) return EXIT.notFound;
  if (USAGE.has(wireCode)) return EXIT.usage;
  return EXIT.failure;
}
