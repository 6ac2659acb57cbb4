-- Invites v2 (docs/protocol.md §9b): short codes. The broker indexes an invite by its lookup (an HMAC
-- of the code) and keeps the mesh key only wrapped under a key derived from the code, which it never
-- receives; nothing here opens a message. sig is the issuer's signature over every stored field, so
-- a joiner detects a row the broker altered.
CREATE TABLE invites_v2 (
  id               text        NOT NULL,
  mesh_id          uuid        NOT NULL,
  lookup           text        NOT NULL,
  issuer_pubkey    text        NOT NULL,
  role             text        NOT NULL,
  wrapped_mesh_key text        NOT NULL,
  sig              text        NOT NULL,
  max_uses         integer     NOT NULL,
  uses             integer     NOT NULL DEFAULT 0,
  expires_at       timestamptz NOT NULL,
  created_at       timestamptz NOT NULL DEFAULT now(),
  revoked_at       timestamptz,
  CONSTRAINT invites_v2_pkey PRIMARY KEY (id),
  CONSTRAINT invites_v2_lookup_key UNIQUE (lookup),
  CONSTRAINT invites_v2_role_check CHECK (role IN ('admin', 'member')),
  CONSTRAINT invites_v2_uses_check CHECK (uses >= 0 AND uses <= max_uses),
  CONSTRAINT invites_v2_mesh_fkey FOREIGN KEY (mesh_id) REFERENCES meshes (id) ON DELETE CASCADE
);
