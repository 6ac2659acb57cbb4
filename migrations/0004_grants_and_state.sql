-- Capability grants (docs/protocol.md §5.5): what one member (owner) lets another (peer) do to it.
-- A missing row means the default capabilities; only rows that differ from them are stored.
CREATE TABLE peer_grants (
  owner_member_id bigint      NOT NULL,
  peer_member_id  bigint      NOT NULL,
  mesh_id         uuid        NOT NULL,
  capabilities    text[]      NOT NULL,
  blocked         boolean     NOT NULL DEFAULT false,
  updated_at      timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT peer_grants_pkey PRIMARY KEY (owner_member_id, peer_member_id),
  CONSTRAINT peer_grants_not_self_check CHECK (owner_member_id <> peer_member_id),
  CONSTRAINT peer_grants_owner_fkey FOREIGN KEY (owner_member_id) REFERENCES members (id) ON DELETE CASCADE,
  CONSTRAINT peer_grants_peer_fkey FOREIGN KEY (peer_member_id) REFERENCES members (id) ON DELETE CASCADE,
  CONSTRAINT peer_grants_mesh_fkey FOREIGN KEY (mesh_id) REFERENCES meshes (id) ON DELETE CASCADE
);
CREATE INDEX peer_grants_mesh_idx ON peer_grants (mesh_id);

-- Shared state (docs/protocol.md §6.4): per-owner key/value pairs, each value sealed by the writing
-- client under a key derived from the mesh key and bound to (mesh, owner, key, version). The broker
-- stores opaque bytes and enforces versions and the owner's state-read / state-write grants.
CREATE TABLE shared_state (
  owner_member_id      bigint      NOT NULL,
  key                  text        NOT NULL,
  mesh_id              uuid        NOT NULL,
  version              integer     NOT NULL,
  nonce                bytea       NOT NULL,
  ciphertext           bytea       NOT NULL,
  updated_by_member_id bigint      NOT NULL,
  updated_at           timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT shared_state_pkey PRIMARY KEY (owner_member_id, key),
  CONSTRAINT shared_state_version_check CHECK (version >= 1),
  CONSTRAINT shared_state_owner_fkey FOREIGN KEY (owner_member_id) REFERENCES members (id) ON DELETE CASCADE,
  CONSTRAINT shared_state_mesh_fkey FOREIGN KEY (mesh_id) REFERENCES meshes (id) ON DELETE CASCADE
);
CREATE INDEX shared_state_mesh_idx ON shared_state (mesh_id);
