import { Inject, Injectable } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import {
  LIMITS,
  ProtocolError,
  type EmailInviteBody,
  type EmailInviteClaimBody,
  type EmailInviteClaimResponse,
  type EmailInviteResolveResponse,
  type EmailInviteResponse,
  type EmailInvitesResponse,
} from '@claudemesh/core';
import {
  deriveEmailInviteLookup, edPublicToBoxPublic, emailInviteClaimString, encodeEmailInviteLink, formatEmailInviteCode, generateInviteCode, toB64u, verify,
  verifyEmailInviteSignature,
} from '@claudemesh/crypto';
import type { AddressInfo } from 'node:net';
import { DataSource, type QueryRunner } from 'typeorm';
import { BROKER_CONFIG, publicUrlOf, type BrokerConfig } from '../config/broker.config.js';
import { rows, transaction } from '../db/sql.js';
import { concurrentEnrollment, insertMember, isUniqueViolation, issuerStanding } from '../invites/enrollment.js';
import { MailService } from '../mail/mail.service.js';
import { renderInviteMail } from '../mail/invite-mail.template.js';
import { MeshDirectory, type MeshState } from '../meshes/mesh-directory.js';
import { RateLimitedError } from '../http/rate-limited.error.js';
import { MeshesService, memberInfo } from '../meshes/meshes.service.js';
import { inviteByLookup, recordOf, type EmailInviteRow } from './email-invite.record.js';

/** An email invite lives at most this long (the code travels through mailboxes). */
export const MAX_EMAIL_INVITE_TTL_MS = 30 * 24 * 3_600_000;

/**
 * Email invites (docs/protocol.md §9c). The broker makes the code and mails it, so the code only
 * admits: it wraps nothing. The member it admits gets the mesh key later from the inviting admin
 * (KeyHandoffService). The code itself is never stored, only its lookup.
 */
@Injectable()
export class EmailInvitesService {
  constructor(
    private readonly ds: DataSource,
    private readonly meshes: MeshesService,
    private readonly directory: MeshDirectory,
    private readonly mail: MailService,
    private readonly http: HttpAdapterHost,
    @Inject(BROKER_CONFIG) private readonly config: BrokerConfig,
  ) {}

  /** Checks the signed terms, makes a code, mails it. A failed send leaves the invite unusable (E_MAIL_FAILED). */
  async send(meshId: string, callerPubkey: string, body: EmailInviteBody, now = Date.now()): Promise<EmailInviteResponse> {
    if (body.mesh_id !== meshId) throw new ProtocolError('E_SCHEMA', 'mesh_id: the invite is for another mesh');
    const { state, member } = await this.meshes.requireMember(meshId, callerPubkey, ['owner', 'admin']);
    if (body.issuer !== callerPubkey) throw new ProtocolError('E_FORBIDDEN', 'an email invite is sent by its issuer');
    if (body.role === 'admin' && member.role !== 'owner') throw new ProtocolError('E_INVITE_INVALID', 'only the owner can invite admins');
    if (!verifyEmailInviteSignature(body)) throw new ProtocolError('E_INVITE_INVALID', 'the email invite signature does not verify');
    if (now >= body.expires_at) throw new ProtocolError('E_INVITE_EXPIRED', 'the invite has already expired');
    if (body.expires_at - now > MAX_EMAIL_INVITE_TTL_MS) throw new ProtocolError('E_SCHEMA', 'expires_at: an email invite lasts at most 30 days');
    const [existing] = await rows<EmailInviteRow>(this.ds, 'SELECT * FROM email_invites WHERE id = $1', [body.invite_id]);
    // A replayed signed request answers again but mails nothing twice.
    if (existing) return this.replayed(existing, body);
    this.mail.requireEnabled();
    const code = generateInviteCode();
    const inserted = await transaction(this.ds, (qr) => this.insertWithinHourlyLimit(qr, meshId, code, body));
    if (inserted.length === 0) {
      const [raced] = await rows<EmailInviteRow>(this.ds, 'SELECT * FROM email_invites WHERE id = $1', [body.invite_id]);
      if (raced) return this.replayed(raced, body);
      const [oldest] = await rows<{ wait_ms: number | null }>(
        this.ds,
        `SELECT ceil(extract(epoch FROM min(created_at) + interval '1 hour' - now()) * 1000)::float8 AS wait_ms FROM email_invites WHERE mesh_id = $1 AND created_at > now() - interval '1 hour'`,
        [meshId],
      );
      const waitMs = Math.max(1_000, oldest?.wait_ms ?? 1_000);
      throw new RateLimitedError(`this mesh sent ${this.mail.settings.invitesPerHour} email invites in the last hour; retry in ${Math.ceil(waitMs / 60_000)} min`, waitMs);
    }
    const brokerOrigin = this.brokerOrigin();
    const message = renderInviteMail({
      meshName: state.mesh.name,
      inviterName: member.displayName,
      link: encodeEmailInviteLink(brokerOrigin, code, callerPubkey),
      code: formatEmailInviteCode(code),
      brokerOrigin,
      expiresAt: body.expires_at,
      suggestedName: body.display_name,
    });
    try {
      await this.mail.send({ to: body.email, ...message });
    } catch (error) {
      await this.ds.query('UPDATE email_invites SET send_error = $2, revoked_at = now() WHERE id = $1', [body.invite_id, (error as Error).message.slice(0, 500)]);
      throw error;
    }
    await this.ds.query('UPDATE email_invites SET sent_at = now() WHERE id = $1', [body.invite_id]);
    return this.response(inserted[0]!);
  }

  /**
   * Counts the mesh's last hour and inserts in one transaction that first locks the mesh row, so
   * concurrent sends to one mesh take turns and never pass the limit together. Empty: over the
   * limit, or the invite id exists already.
   */
  private async insertWithinHourlyLimit(qr: QueryRunner, meshId: string, code: string, body: EmailInviteBody): Promise<EmailInviteRow[]> {
    await qr.query('SELECT id FROM meshes WHERE id = $1 FOR NO KEY UPDATE', [meshId]);
    return rows<EmailInviteRow>(
      qr,
      `INSERT INTO email_invites (id, mesh_id, lookup, email, display_name, role, issuer_pubkey, sig, expires_at)
       SELECT $1, $2, $3, $4, $5, $6, $7, $8, to_timestamp($9 / 1000.0)
       WHERE (SELECT count(*) FROM email_invites WHERE mesh_id = $2 AND created_at > now() - interval '1 hour') < $10
       ON CONFLICT DO NOTHING RETURNING *`,
      [body.invite_id, meshId, deriveEmailInviteLookup(code), body.email, body.display_name ?? null, body.role, body.issuer, body.sig, body.expires_at, this.mail.settings.invitesPerHour],
    );
  }

  /** Which mesh a mailed code is for, with the signed invite so the joiner can check who sent it. Consumes nothing. */
  async resolve(lookup: string, now = Date.now()): Promise<EmailInviteResolveResponse> {
    const row = await inviteByLookup(this.ds, lookup);
    const state = await this.meshes.require(row.mesh_id);
    if (row.revoked_at) throw new ProtocolError('E_INVITE_REVOKED', 'the invite has been revoked');
    // A joiner whose key is still pending re-runs its join: a claimed invite resolves past its expiry.
    if (!row.member_pubkey && now >= row.expires_at.getTime()) throw new ProtocolError('E_INVITE_EXPIRED', 'the invite has expired');
    const inviter = state.byPubkey.get(row.issuer_pubkey);
    if (!inviter) throw new ProtocolError('E_INVITE_INVALID', 'the inviting admin is not a member of the mesh');
    return {
      mesh_id: row.mesh_id,
      mesh_name: state.mesh.name,
      inviter: { member_pubkey: inviter.pubkey, display_name: inviter.displayName },
      claimed: row.member_pubkey !== null,
      invite: recordOf(row),
    };
  }

  /**
   * Enrollment with a mailed code: single use. Claiming (one conditional UPDATE) and the member insert
   * share a transaction, so a name clash burns nothing. The same key claiming again is a rejoin, also
   * after expiry: the seat is already its own. No key is in the answer.
   */
  async claim(body: EmailInviteClaimBody, now = Date.now(), retried = false): Promise<EmailInviteClaimResponse> {
    this.checkClaimSignature(body, now);
    const row = await inviteByLookup(this.ds, body.lookup);
    const state = await this.checkStanding(row);
    const existing = state.byPubkey.get(body.member_pubkey);
    if (existing?.revoked) throw new ProtocolError('E_REVOKED', 'this key was revoked from the mesh');
    if (row.member_pubkey === body.member_pubkey) return this.answer(state, row, body.member_pubkey, true);
    if (row.revoked_at) throw new ProtocolError('E_INVITE_REVOKED', 'the invite has been revoked');
    if (row.member_pubkey) throw new ProtocolError('E_INVITE_EXHAUSTED', 'the invite was already used: an email invite admits one member');
    if (now >= row.expires_at.getTime()) throw new ProtocolError('E_INVITE_EXPIRED', 'the invite has expired');
    try {
      const claimed = await transaction(this.ds, (qr) => this.claimAndEnroll(qr, body, row, existing === undefined));
      // Another claim won the row, or the database clock saw it expire: diagnose once from the row as it is now.
      if (!claimed && retried) throw new ProtocolError('E_INVITE_EXPIRED', 'the invite has expired');
      if (!claimed) return this.claim(body, now, true);
    } catch (error) {
      if (!isUniqueViolation(error)) throw error;
      // E_NAME_TAKEN, unless the same key enrolled concurrently by another invite: then claim as that member.
      await concurrentEnrollment(this.directory, state, body.member_pubkey, body.display_name);
      if (retried) throw error;
      return this.claim(body, now, true);
    }
    await this.directory.refresh(row.mesh_id);
    return this.answer(state, { ...row, member_pubkey: body.member_pubkey }, body.member_pubkey, existing !== undefined);
  }

  /** The mesh's email invites for its owner and admins, oldest first, so they can be seen and revoked. */
  async list(meshId: string, callerPubkey: string): Promise<EmailInvitesResponse> {
    await this.meshes.requireMember(meshId, callerPubkey, ['owner', 'admin']);
    const found = await rows<EmailInviteRow>(this.ds, 'SELECT * FROM email_invites WHERE mesh_id = $1 ORDER BY created_at, id', [meshId]);
    return {
      invites: found.map((r) => ({
        ...this.response(r),
        issuer: r.issuer_pubkey,
        created_at: r.created_at.getTime(),
        sent: r.sent_at !== null,
        revoked: r.revoked_at !== null,
        member_pubkey: r.member_pubkey,
      })),
    };
  }

  /** The owner revokes any email invite, an admin those it sent. Idempotent. A claimed, revoked invite gets no handoff. */
  async revoke(meshId: string, callerPubkey: string, inviteId: string): Promise<{ invite_id: string; revoked: true }> {
    const { member } = await this.meshes.requireMember(meshId, callerPubkey, ['owner', 'admin']);
    const [row] = await rows<EmailInviteRow>(this.ds, 'SELECT * FROM email_invites WHERE id = $1 AND mesh_id = $2', [inviteId, meshId]);
    if (!row) throw new ProtocolError('E_NOT_FOUND', 'no such email invite');
    if (member.role !== 'owner' && row.issuer_pubkey !== callerPubkey) throw new ProtocolError('E_FORBIDDEN', 'only the issuer or the owner revokes an invite');
    await this.ds.query('UPDATE email_invites SET revoked_at = COALESCE(revoked_at, now()) WHERE id = $1', [inviteId]);
    return { invite_id: inviteId, revoked: true };
  }

  private replayed(row: EmailInviteRow, body: EmailInviteBody): EmailInviteResponse {
    if (row.sig !== body.sig || row.mesh_id !== body.mesh_id) throw new ProtocolError('E_CONFLICT', 'another invite with this id exists');
    if (row.send_error) throw new ProtocolError('E_MAIL_FAILED', `the mail of this invite was not sent (${row.send_error}); send a new invite`);
    return this.response(row);
  }

  private response(r: EmailInviteRow): EmailInviteResponse {
    return { invite_id: r.id, mesh_id: r.mesh_id, email: r.email, role: r.role, expires_at: r.expires_at.getTime() };
  }

  /** PUBLIC_URL when set, else the address this broker is bound to — never a client's Host header. */
  private brokerOrigin(): string {
    const address = this.http.httpAdapter.getHttpServer().address() as AddressInfo | string | null;
    return publicUrlOf(this.config, typeof address === 'object' && address ? address.port : this.config.port);
  }

  private checkClaimSignature(body: EmailInviteClaimBody, now: number): void {
    const signed = emailInviteClaimString({
      lookup: body.lookup, memberPubkey: body.member_pubkey, x25519Pubkey: body.x25519_pubkey, displayName: body.display_name, peerType: body.peer_type, ts: body.ts,
    });
    if (!verify(signed, body.sig, body.member_pubkey)) throw new ProtocolError('E_BAD_SIGNATURE', 'claim signature does not verify');
    // The handoff is sealed to this key: it must be the member key's own x25519 form.
    if (toB64u(edPublicToBoxPublic(body.member_pubkey)) !== body.x25519_pubkey) throw new ProtocolError('E_SCHEMA', 'x25519_pubkey: must be the x25519 form of member_pubkey');
    if (Math.abs(now - body.ts) > LIMITS.requestSkewMs) throw new ProtocolError('E_STALE_TIMESTAMP', 'claim timestamp outside the allowed skew');
  }

  /** The stored terms still verify and their issuer may still invite. */
  private async checkStanding(row: EmailInviteRow): Promise<MeshState> {
    if (!verifyEmailInviteSignature(recordOf(row))) throw new ProtocolError('E_INVITE_INVALID', 'the stored invite does not verify');
    return issuerStanding(this.meshes, row);
  }

  /** False when another claim won the row meanwhile (the caller re-diagnoses from the row as it is now). */
  private async claimAndEnroll(qr: QueryRunner, body: EmailInviteClaimBody, row: EmailInviteRow, insert: boolean): Promise<boolean> {
    const claimed = await rows<{ id: string }>(
      qr,
      `UPDATE email_invites SET member_pubkey = $2, claimed_at = now()
       WHERE lookup = $1 AND member_pubkey IS NULL AND revoked_at IS NULL AND sent_at IS NOT NULL AND expires_at > now() RETURNING id`,
      [body.lookup, body.member_pubkey],
    );
    if (claimed.length === 0) return false;
    if (insert) await insertMember(qr, { meshId: row.mesh_id, pubkey: body.member_pubkey, displayName: body.display_name, role: row.role, peerType: body.peer_type, inviteId: row.id });
    return true;
  }

  private answer(state: MeshState, row: EmailInviteRow, pubkey: string, rejoined: boolean): EmailInviteClaimResponse {
    return { mesh_id: state.mesh.id, mesh_name: state.mesh.name, member: memberInfo(state.byPubkey.get(pubkey)!), rejoined, invite: recordOf(row) };
  }
}
