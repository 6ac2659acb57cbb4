-- Email invites and key handoff (docs/protocol.md §9c). The broker mails a code it made and keeps only
-- its lookup (an HMAC of the code); the code admits one member and opens nothing. The mesh key reaches
-- that member later as handoff_sealed: a crypto_box_seal to the member's own key, made and signed
-- (handoff_sig) by the inviting admin. Nothing here opens a message.
CREATE TABLE email_invites (
  id             text        NOT NULL,
  mesh_id        uuid        NOT NULL,
  lookup         text        NOT NULL,
  email          text        NOT NULL,
  display_name   text,
  role           text        NOT NULL,
  issuer_pubkey  text        NOT NULL,
  sig            text        NOT NULL,
  expires_at     timestamptz NOT NULL,
  created_at     timestamptz NOT NULL DEFAULT now(),
  -- null until the mail transport accepted the message: an unsent invite admits no one
  sent_at        timestamptz,
  send_error     text,
  revoked_at     timestamptz,
  member_pubkey  text,
  claimed_at     timestamptz,
  handoff_sealed text,
  handoff_sig    text,
  handed_over_at timestamptz,
  CONSTRAINT email_invites_pkey PRIMARY KEY (id),
  CONSTRAINT email_invites_lookup_key UNIQUE (lookup),
  CONSTRAINT email_invites_role_check CHECK (role IN ('admin', 'member')),
  CONSTRAINT email_invites_mesh_fkey FOREIGN KEY (mesh_id) REFERENCES meshes (id) ON DELETE CASCADE
);

-- The per-mesh rate limit counts the last hour's invites; key requests and handoffs look up by member.
CREATE INDEX email_invites_mesh_created_idx ON email_invites (mesh_id, created_at);
CREATE INDEX email_invites_mesh_member_idx ON email_invites (mesh_id, member_pubkey);
