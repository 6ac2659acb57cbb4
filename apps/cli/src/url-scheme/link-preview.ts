import { ProtocolError, httpBaseOf, resolveEmailInvite, resolveShortInvite } from '@claudemesh/core';
import { checkInvite, cryptoReady } from '@claudemesh/crypto';
import { joinFailure, parseInviteInput } from '../identity/invite-input.js';
import { safeLine } from '../terminal-text.js';

/** What an invite leads to, learnt without joining: shown to the person before anything happens. */
export interface InvitePreview {
  /** The broker's origin (http(s)://host[:port]) and its host alone. */
  broker: string;
  host: string;
  meshId: string;
  meshName: string;
  /** The issuing member's key, and its name when the broker told it (a v1 link carries only the key); null from a broker too old to say. */
  inviter: { member_pubkey: string; display_name: string | null } | null;
  role: 'member' | 'admin';
  expiresAt: number;
}

/**
 * Resolves an invite without enrolling anything: a v1 link is read and its signature checked here
 * (nothing is sent), a short or email code is resolved at its broker by its lookup only (resolve
 * consumes no use and reveals no key).
 */
export async function previewInvite(invite: string, defaultBroker: string | undefined): Promise<InvitePreview> {
  await cryptoReady();
  const input = parseInviteInput(invite, defaultBroker);
  const broker = input.kind === 'v1' ? httpBaseOf(input.invite.payload.broker_url) : httpBaseOf(input.brokerUrl);
  const host = new URL(broker).host;
  try {
    if (input.kind === 'v1') {
      const p = input.invite.payload;
      const check = checkInvite(input.invite, Date.now());
      if (!check.ok) throw new ProtocolError(check.code);
      return { broker, host, meshId: p.mesh_id, meshName: p.mesh_name, inviter: { member_pubkey: p.issuer, display_name: null }, role: p.role, expiresAt: p.expires_at };
    }
    if (input.kind === 'v2') {
      const r = await resolveShortInvite(broker, input.code);
      // Brokers before the inviter was added to resolve (protocol §9b.6) leave it out.
      const inviter = (r as Partial<typeof r>).inviter ?? null;
      return { broker, host, meshId: r.mesh_id, meshName: r.mesh_name, inviter, role: r.role, expiresAt: r.expires_at };
    }
    const r = await resolveEmailInvite(broker, input.code, input.issuer);
    return { broker, host, meshId: r.mesh_id, meshName: r.mesh_name, inviter: r.inviter, role: r.invite.role, expiresAt: r.invite.expires_at };
  } catch (error) {
    throw joinFailure(error, { broker, name: '' });
  }
}

/** The lines shown before the question; every name in them came from the link or its broker. */
export function previewLines(p: InvitePreview, joinedAs: string | null): string[] {
  const inviter = p.inviter
    ? `${p.inviter.display_name === null ? '(name not in a v1 link)' : safeLine(p.inviter.display_name)} — member key ${safeLine(p.inviter.member_pubkey.slice(0, 16))}…`
    : '(this broker does not say)';
  return [
    joinedAs === null ? 'claudemesh: this link asks you to join a mesh and start Claude Code with it:' : `claudemesh: this link asks you to start Claude Code with a mesh you are in (as ${safeLine(joinedAs)}):`,
    `  broker   ${safeLine(p.host)}   (${safeLine(p.broker)})`,
    `  mesh     "${safeLine(p.meshName)}"   (${p.meshId})`,
    `  inviter  ${inviter}`,
    `  role     ${p.role}; the invite expires ${new Date(p.expiresAt).toISOString()}`,
    'Members of that mesh can then send messages straight into your Claude Code session. Go on only if you expected this invite.',
  ];
}
