import { DisplayName, EmailAddress, ProtocolError, httpBaseOf, sendEmailInvite, type StoredMesh } from '@claudemesh/core';
import { cryptoReady, parseIdentity } from '@claudemesh/crypto';
import { CliError, EXIT } from './context.js';
import type { InviteOptions } from './invite-issue.js';

export interface EmailInviteOptions extends InviteOptions {
  email?: string;
  inviteeName?: string;
}

/** What `mesh invite --email` says when the broker cannot mail. */
const NEXT: Partial<Record<string, string>> = {
  E_MAIL_DISABLED: 'ask the broker operator to set CLAUDEMESH_MAIL (smtp or postmark), or share an invite yourself: claudemesh mesh invite',
  E_MAIL_FAILED: 'check the address, ask the broker operator to check its mail settings, or share an invite yourself: claudemesh mesh invite',
  E_RATE_LIMITED: 'this mesh sent many email invites in the last hour; retry later, or share an invite yourself: claudemesh mesh invite',
};

/**
 * `mesh invite --email`: the broker mails a single-use code that admits the invitee; no key leaves
 * this machine. The mesh key follows when they join, handed over by this member's daemon or by
 * `claudemesh mesh handoff` (docs/protocol.md §9c).
 */
export async function issueEmailInvite(mesh: StoredMesh, options: EmailInviteOptions): Promise<{ json: Record<string, unknown>; text: string }> {
  if (mesh.role === 'member') throw new CliError(`you are a member of "${mesh.mesh_name}"; only its owner or an admin invites by email`, EXIT.failure);
  if (options.v1 || options.uses !== undefined) throw new CliError('an email invite is single use and carries no key: drop --v1 and --uses', EXIT.usage);
  const email = EmailAddress.safeParse(options.email);
  if (!email.success) throw new CliError(`"${options.email}" is not an email address (name@example.com)`, EXIT.usage);
  if (options.inviteeName !== undefined && !DisplayName.safeParse(options.inviteeName).success) throw new CliError(`--invitee-name "${options.inviteeName}" is not a display name (letters, digits, . _ -; up to 64)`, EXIT.usage);
  if (!mesh.mesh_key) process.stderr.write('claudemesh: no mesh key on this machine: you can invite, but someone holding the key must run claudemesh mesh handoff\n');
  await cryptoReady();
  const broker = httpBaseOf(mesh.broker_url);
  let sent: Awaited<ReturnType<typeof sendEmailInvite>>['sent'];
  try {
    ({ sent } = await sendEmailInvite(broker, {
      meshId: mesh.mesh_id,
      issuer: parseIdentity(mesh.identity),
      email: email.data,
      ...(options.inviteeName ? { displayName: options.inviteeName } : {}),
      role: options.role ?? 'member',
      ttlMs: Math.round((options.ttl ?? 24) * 3_600_000),
    }));
  } catch (error) {
    const next = error instanceof ProtocolError ? NEXT[error.code] : undefined;
    if (next) throw new CliError(`${(error as ProtocolError).message} [${(error as ProtocolError).code}]\n  next: ${next}`, EXIT.failure);
    throw error;
  }
  const expires = new Date(sent.expires_at).toISOString();
  return {
    json: { version: 'email', invite_id: sent.invite_id, email: sent.email, role: sent.role, expires_at: sent.expires_at, broker_url: broker, key_handoff: 'daemon or claudemesh mesh handoff' },
    text: [
      `emailed an invite for "${mesh.mesh_name}" to ${sent.email} (${sent.role}, single use, expires ${expires})`,
      'the mail holds a link and a code that admit them, not the mesh key: once they join, the key is handed over,',
      'sealed to their key, by your running daemon (claudemesh daemon start) or when you run: claudemesh mesh handoff',
      `close it before it is used: claudemesh mesh invite revoke ${sent.invite_id}`,
    ].join('\n'),
  };
}
