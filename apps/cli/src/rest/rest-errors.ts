import { ProtocolError, type StoredMesh } from '@claudemesh/core';
import { CliError, EXIT } from '../context.js';
import { exitCodeOf } from '../exit-codes.js';
import { netCause } from '../net-cause.js';

/** What to run next after a refusal of the REST API, per code (the CLI's own words for topics and keys). */
const NEXT: Record<string, string> = {
  E_NOT_FOUND: 'see what there is: claudemesh topic list',
  E_UNKNOWN_TARGET: 'see who is in the mesh: claudemesh member list',
  E_CONFLICT: 'it exists already; join it: claudemesh topic join <name>',
  E_FORBIDDEN: 'you may not do this here; ask a member of the topic or the mesh owner',
  E_UNAUTHORIZED: 'the API key is unknown, revoked or expired; see your keys: claudemesh apikey list --all',
  E_NAME_TAKEN: 'pick another --human name (see claudemesh member list)',
  E_NOT_MEMBER: 'your membership was revoked or never existed; ask for a new invite and run claudemesh join',
  E_REVOKED: 'your membership was revoked; ask the mesh owner for a new invite',
  E_UNKNOWN_MESH: 'this broker no longer knows the mesh; claudemesh mesh list shows where each mesh lives',
  E_RATE_LIMITED: 'slow down and retry',
  E_UNAVAILABLE: 'the broker cannot reach its database; retry in a moment',
  E_SCHEMA: 'check the arguments: claudemesh <verb> --help',
  E_TOO_LARGE: 'send less (split the message)',
};

/**
 * The CLI error for a failed REST call: the broker's message with its code and a `next:` line, and
 * the exit code of docs/cli.md (not found 4, usage 2, unreachable 5, else 1). `hints` override the
 * generic next step for this verb (e.g. the private topic's "ask a member to add you").
 */
export function restError(error: unknown, mesh: StoredMesh, hints: Record<string, string> = {}): Error {
  if (error instanceof CliError) return error;
  if (error instanceof ProtocolError) {
    const next = hints[error.code] ?? NEXT[error.code];
    return new CliError(`${error.message} [${error.code}]${next ? `\n  next: ${next}` : ''}`, exitCodeOf(error.code));
  }
  const cause = netCause(error, mesh.broker_url);
  if (cause) return new CliError(`cannot reach the broker of "${mesh.mesh_name}": ${cause.text}\n  next: check it runs, then retry (claudemesh doctor)`, EXIT.unreachable);
  return error instanceof Error ? error : new Error(String(error));
}
