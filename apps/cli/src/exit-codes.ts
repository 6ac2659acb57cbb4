/**
 * Exit codes (docs/cli.md): 0 ok, 1 runtime failure (broker refused, network), 2 usage error,
 * 3 nothing joined / mesh not found, 4 not found (message, peer), 5 the broker is unreachable.
 * In a module of their own so the daemon and the fast path need not load the command tree.
 */
export const EXIT = { ok: 0, failure: 1, usage: 2, noMesh: 3, notFound: 4, unreachable: 5 } as const;
