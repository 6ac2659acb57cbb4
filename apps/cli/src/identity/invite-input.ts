import { ProtocolError, type ErrorCode } from '@claudemesh/core';
import {
  isEmailInviteLink, isShortInviteLink, normalizeInviteCode, parseEmailInviteCode, parseEmailInviteLink, parseInviteLink, parseShortInviteLink, type SignedInvite,
} from '@claudemesh/crypto';
import { CliError, EXIT } from '../context.js';

/** What `claudemesh join` was given: a v1 signed link, or a short code (from a link, or bare with --broker). */
export type InviteInput =
  | { kind: 'v1'; invite: SignedInvite; meshKey?: Uint8Array }
  | { kind: 'v2'; brokerUrl: string; code: string }
  /** An email invite (§9c): admits only; the mesh key follows from the admin `issuer` names. */
  | { kind: 'email'; brokerUrl: string; code: string; issuer?: string };

const FORMS =
  "a short link (https://<broker>/i/ABCD-EFGH-JKMN-PQRS), an email invite link (https://<broker>/e/ABCD-EFGH-JKMN-PQRS?issuer=…), a code (or an E-… email code) with --broker <url>, or a v1 link (ic://join/… or https://…/join#…)";

const usage = (what: string): CliError => new CliError(`${what}; claudemesh join takes ${FORMS}`, EXIT.usage);

/** Reads the join argument; anything malformed is a usage error (exit 2) that names the accepted forms. */
export function parseInviteInput(text: string, broker: string | undefined): InviteInput {
  const trimmed = (text ?? '').trim();
  if (isShortInviteLink(trimmed)) {
    try {
      return { kind: 'v2', ...parseShortInviteLink(trimmed) };
    } catch (error) {
      throw usage(`that short invite link is malformed (${reason(error)})`);
    }
  }
  if (isEmailInviteLink(trimmed)) {
    try {
      return { kind: 'email', ...parseEmailInviteLink(trimmed) };
    } catch (error) {
      throw usage(`that email invite link is malformed (${reason(error)})`);
    }
  }
  const emailCode = parseEmailInviteCode(trimmed);
  if (emailCode) {
    if (!broker) throw new CliError(`an email invite code needs its broker: claudemesh join ${trimmed} --broker <url> (or set CLAUDEMESH_BROKER)`, EXIT.usage);
    return { kind: 'email', brokerUrl: brokerOrigin(broker), code: emailCode };
  }
  const code = tryCode(trimmed);
  if (code) {
    if (!broker) throw new CliError(`a bare invite code needs its broker: claudemesh join ${trimmed} --broker <url> (or set CLAUDEMESH_BROKER)`, EXIT.usage);
    return { kind: 'v2', brokerUrl: brokerOrigin(broker), code };
  }
  try {
    return { kind: 'v1', ...parseInviteLink(trimmed) };
  } catch (error) {
    if (looksLikeCode(trimmed)) throw usage(`that invite code is malformed (${reason(normalizeError(trimmed) ?? error)})`);
    throw usage('that is not a claudemesh invite');
  }
}

function tryCode(text: string): string | null {
  try {
    return normalizeInviteCode(text);
  } catch {
    return null;
  }
}

/** Short, dash-grouped alphanumerics: the person meant a code, so say what is wrong with it. */
const looksLikeCode = (text: string): boolean => text.length > 0 && text.length <= 24 && /^[A-Za-z0-9-]+$/.test(text);

function normalizeError(text: string): unknown {
  try {
    normalizeInviteCode(text);
    return null;
  } catch (error) {
    return error;
  }
}

const reason = (error: unknown): string => (error instanceof Error ? error.message.replace(/^E_[A-Z_]+: /, '') : String(error));

function brokerOrigin(broker: string): string {
  try {
    const url = new URL(broker);
    if (!/^(https?|wss?):$/.test(url.protocol)) throw new Error('scheme');
    return url.toString();
  } catch {
    throw new CliError(`--broker ${broker} is not a broker URL; pass e.g. --broker http://127.0.0.1:7900`, EXIT.usage);
  }
}

/** What each refusal of a join means for the person, and what to do next. */
const JOIN_ERRORS: Partial<Record<ErrorCode, (ctx: { broker: string; name: string }) => [string, string]>> = {
  E_INVITE_NOT_FOUND: ({ broker }) => [`no invite matches this code at ${broker}`, 'check the code for typos (dashes and case do not matter), and that --broker names the broker that issued it'],
  E_INVITE_INVALID: () => ['the invite does not verify: it was altered or damaged, or its issuer may no longer invite', 'ask the mesh owner for a fresh invite'],
  E_INVITE_EXPIRED: () => ['the invite has expired', 'ask the mesh owner for a fresh invite (claudemesh mesh invite --ttl <hours>)'],
  E_INVITE_REVOKED: () => ['the invite has been revoked', 'ask the mesh owner for a fresh invite'],
  E_INVITE_EXHAUSTED: () => ['the invite has no uses left', 'ask the mesh owner for a fresh invite (claudemesh mesh invite --uses <n>)'],
  E_NAME_TAKEN: ({ name }) => [`the display name ${name} is taken in this mesh`, 'pick another: claudemesh join <invite> --name <other-name>'],
  E_REVOKED: () => ['your member key was revoked from this mesh', 'ask the mesh owner to invite you again'],
  E_UNKNOWN_MESH: ({ broker }) => [`the broker at ${broker} does not know this mesh`, 'check that the invite is for this broker'],
};

/** Turns a broker refusal or a network failure into a CliError with the code and a next step. */
export function joinFailure(error: unknown, ctx: { broker: string; name: string }): unknown {
  if (error instanceof ProtocolError) {
    const explain = JOIN_ERRORS[error.code];
    if (!explain) return error;
    const [what, next] = explain(ctx);
    return new CliError(`${what} [${error.code}]\n  next: ${next}`, EXIT.failure);
  }
  const cause = (error as { cause?: { code?: string } }).cause?.code ?? '';
  if (error instanceof TypeError && /fetch failed/.test(error.message)) {
    return new CliError(`cannot reach the broker at ${ctx.broker}${cause ? ` (${cause})` : ''}; check it runs and the URL is right, then retry`, EXIT.unreachable);
  }
  return error;
}
