export type InviteRole = 'member' | 'admin';

/** Invite v1 payload; field names are the wire (snake_case) names and are signed as canonical JSON. */
export interface InvitePayload {
  v: 1;
  mesh_id: string;
  mesh_name: string;
  broker_url: string;
  invite_id: string;
  role: InviteRole;
  /** ed25519 public key of the issuing member, lowercase hex. */
  issuer: string;
  created_at: number;
  expires_at: number;
  max_uses: number;
}

export interface SignedInvite {
  payload: InvitePayload;
  sig: string;
}
