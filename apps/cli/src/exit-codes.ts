/**
 * Exit codes (docs/cli.md): 0 ok, 1 runtime failure (broker refused, network), 2 usage error,
 * 3 nothing joined / mesh not found, 4 not found (message, peer), 5 the broker is unreachable,
 * 6 refused by the policy (docs/cli.md "Policy and audit"), 7 approval mode plan: nothing was run,
 * 8 pending: done so far, waiting on someone else (an email join whose mesh key has not arrived).
 * In a module of their own so the daemon and the fast path need not load the command tree.
 */
export const EXIT = { ok: 0, failure: 1, usage: 2, noMesh: 3, notFound: 4, unreachable: 5, denied: 6, planned: 7, pending: 8 } as const;
