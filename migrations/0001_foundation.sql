-- claudemesh foundation schema: meshes, members, invites, groups, messages and per-recipient deliveries.
-- The broker stores only public keys, signatures and ciphertext; no column holds a key that opens a message.

CREATE TABLE meshes (
  id           uuid        NOT NULL,
  name         text        NOT NULL,
  owner_pubkey text        NOT NULL,
  create_sig   text        NOT NULL,
  created_at   timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT meshes_pkey PRIMARY KEY (id)
);

CREATE TABLE members (
  id           bigserial   NOT NULL,
  mesh_id      uuid        NOT NULL,
  pubkey       text        NOT NULL,
  display_name text        NOT NULL,
  role         text        NOT NULL,
  peer_type    text        NOT NULL DEFAULT 'ai',
  invite_id    text,
  joined_at    timestamptz NOT NULL DEFAULT now(),
  revoked_at   timestamptz,
  CONSTRAINT members_pkey PRIMARY KEY (id),
  CONSTRAINT members_mesh_pubkey_key UNIQUE (mesh_id, pubkey),
  CONSTRAINT members_mesh_name_key UNIQUE (mesh_id, display_name),
  CONSTRAINT members_role_check CHECK (role IN ('owner', 'admin', 'member')),
  CONSTRAINT members_peer_type_check CHECK (peer_type IN ('ai', 'human', 'connector')),
  CONSTRAINT members_mesh_fkey FOREIGN KEY (mesh_id) REFERENCES meshes (id) ON DELETE CASCADE
);

CREATE TABLE invites (
  id            text        NOT NULL,
  mesh_id       uuid        NOT NULL,
  issuer_pubkey text        NOT NULL,
  role          text        NOT NULL,
  payload       jsonb       NOT NULL,
  sig           text        NOT NULL,
  max_uses      integer     NOT NULL,
  uses          integer     NOT NULL DEFAULT 0,
  expires_at    timestamptz NOT NULL,
  created_at    timestamptz NOT NULL DEFAULT now(),
  revoked_at    timestamptz,
  CONSTRAINT invites_pkey PRIMARY KEY (id),
  CONSTRAINT invites_role_check CHECK (role IN ('admin', 'member')),
  CONSTRAINT invites_uses_check CHECK (uses >= 0 AND uses <= max_uses),
  CONSTRAINT invites_mesh_fkey FOREIGN KEY (mesh_id) REFERENCES meshes (id) ON DELETE CASCADE
);

CREATE TABLE group_members (
  member_id  bigint      NOT NULL,
  group_name text        NOT NULL,
  mesh_id    uuid        NOT NULL,
  joined_at  timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT group_members_pkey PRIMARY KEY (member_id, group_name),
  CONSTRAINT group_members_member_fkey FOREIGN KEY (member_id) REFERENCES members (id) ON DELETE CASCADE,
  CONSTRAINT group_members_mesh_fkey FOREIGN KEY (mesh_id) REFERENCES meshes (id) ON DELETE CASCADE
);
CREATE INDEX group_members_mesh_group_idx ON group_members (mesh_id, group_name);

-- One row per accepted send. (sender_member_id, client_id) makes client retries idempotent.
CREATE TABLE messages (
  id                    bigserial   NOT NULL,
  mesh_id               uuid        NOT NULL,
  sender_member_id      bigint      NOT NULL,
  sender_session_pubkey text        NOT NULL,
  client_id             text        NOT NULL,
  kind                  text        NOT NULL,
  target                text        NOT NULL,
  nonce                 bytea       NOT NULL,
  ciphertext            bytea       NOT NULL,
  created_at            timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT messages_pkey PRIMARY KEY (id),
  CONSTRAINT messages_sender_client_key UNIQUE (sender_member_id, client_id),
  CONSTRAINT messages_kind_check CHECK (kind IN ('dm', 'group', 'broadcast')),
  CONSTRAINT messages_mesh_fkey FOREIGN KEY (mesh_id) REFERENCES meshes (id) ON DELETE CASCADE,
  CONSTRAINT messages_sender_fkey FOREIGN KEY (sender_member_id) REFERENCES members (id) ON DELETE CASCADE
);

-- One row per (message, recipient member): the offline queue and the delivery state machine.
CREATE TABLE deliveries (
  recipient_member_id bigint      NOT NULL,
  message_id          bigint      NOT NULL,
  state               text        NOT NULL DEFAULT 'queued',
  delivered_at        timestamptz,
  read_at             timestamptz,
  CONSTRAINT deliveries_pkey PRIMARY KEY (recipient_member_id, message_id),
  CONSTRAINT deliveries_state_check CHECK (state IN ('queued', 'delivered', 'read')),
  CONSTRAINT deliveries_message_fkey FOREIGN KEY (message_id) REFERENCES messages (id) ON DELETE CASCADE,
  CONSTRAINT deliveries_recipient_fkey FOREIGN KEY (recipient_member_id) REFERENCES members (id) ON DELETE CASCADE
);
CREATE INDEX deliveries_message_idx ON deliveries (message_id);
CREATE INDEX deliveries_queued_idx ON deliveries (recipient_member_id, message_id) WHERE state = 'queued';

-- Session keys seen in hellos: a DM addressed to a rotated (stale) session key still reaches its member.
CREATE TABLE sessions (
  session_pubkey text        NOT NULL,
  member_id      bigint      NOT NULL,
  mesh_id        uuid        NOT NULL,
  peer_type      text        NOT NULL,
  expires_at     timestamptz NOT NULL,
  first_seen_at  timestamptz NOT NULL DEFAULT now(),
  last_seen_at   timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT sessions_pkey PRIMARY KEY (session_pubkey),
  CONSTRAINT sessions_member_fkey FOREIGN KEY (member_id) REFERENCES members (id) ON DELETE CASCADE,
  CONSTRAINT sessions_mesh_fkey FOREIGN KEY (mesh_id) REFERENCES meshes (id) ON DELETE CASCADE
);
CREATE INDEX sessions_member_idx ON sessions (member_id);
