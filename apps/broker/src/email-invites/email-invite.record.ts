import { ProtocolError } from '@claudemesh/core';
import type { EmailInviteRecord } from '@claudemesh/crypto';
import type { DataSource, QueryRunner } from 'typeorm';
import { rows } from '../db/sql.js';

/** A row of email_invites as raw SQL returns it. */
export interface EmailInviteRow {
  id: string;
  mesh_id: string;
  lookup: string;
  email: string;
  display_name: string | null;
  role: 'admin' | 'member';
  issuer_pubkey: string;
  sig: string;
  expires_at: Date;
  created_at: Date;
  sent_at: Date | null;
  send_error: string | null;
  revoked_at: Date | null;
  member_pubkey: string | null;
  claimed_at: Date | null;
  handoff_sealed: string | null;
  handoff_sig: string | null;
  handed_over_at: Date | null;
}

/** The terms as the inviting admin signed them; joiners and the admin's client re-check this signature. */
export const recordOf = (r: EmailInviteRow): EmailInviteRecord => ({
  mesh_id: r.mesh_id,
  invite_id: r.id,
  email: r.email,
  ...(r.display_name ? { display_name: r.display_name } : {}),
  role: r.role,
  expires_at: r.expires_at.getTime(),
  issuer: r.issuer_pubkey,
  sig: r.sig,
});

/** An invite whose mail was never accepted admits no one: to a claimer it does not exist. */
export async function inviteByLookup(runner: DataSource | QueryRunner, lookup: string): Promise<EmailInviteRow> {
  const [row] = await rows<EmailInviteRow>(runner, 'SELECT * FROM email_invites WHERE lookup = $1 AND sent_at IS NOT NULL', [lookup]);
  if (!row) throw new ProtocolError('E_INVITE_NOT_FOUND', 'no invite matches this code');
  return row;
}
