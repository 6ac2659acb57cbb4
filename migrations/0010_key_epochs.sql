-- Key epochs (docs/protocol.md §5.6): the broker orders and keeps the signed manifests of each
-- scope's epochs and the seals members made for each other. Everything here is public or sealed to
-- one member's key: no epoch key is ever stored.

-- One row per accepted epoch. The primary key is the compare-and-set: of two publishes of the same
-- epoch racing each other, the second insert conflicts and its publisher is told the current epoch.
CREATE TABLE epoch_manifests (
  mesh_id              uuid        NOT NULL,
  scope                text        NOT NULL,
  epoch                integer     NOT NULL,
  -- canonical JSON of the manifest its creator signed, and the signature
  manifest             text        NOT NULL,
  sig                  text        NOT NULL,
  manifest_hash        text        NOT NULL,
  created_by_member_id bigint      NOT NULL,
  created_at           timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT epoch_manifests_pkey PRIMARY KEY (mesh_id, scope, epoch),
  CONSTRAINT epoch_manifests_mesh_fkey FOREIGN KEY (mesh_id) REFERENCES meshes (id) ON DELETE CASCADE,
  CONSTRAINT epoch_manifests_member_fkey FOREIGN KEY (created_by_member_id) REFERENCES members (id) ON DELETE CASCADE
);

-- One seal per recipient and epoch: the first stored stays (a second is answered ok and dropped).
CREATE TABLE epoch_seals (
  mesh_id    uuid        NOT NULL,
  scope      text        NOT NULL,
  epoch      integer     NOT NULL,
  recipient  text        NOT NULL,
  sealer     text        NOT NULL,
  sealed     text        NOT NULL,
  sig        text        NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT epoch_seals_pkey PRIMARY KEY (mesh_id, scope, epoch, recipient),
  CONSTRAINT epoch_seals_manifest_fkey FOREIGN KEY (mesh_id, scope, epoch) REFERENCES epoch_manifests (mesh_id, scope, epoch) ON DELETE CASCADE
);
-- a member's seals across epochs (epoch_get)
CREATE INDEX epoch_seals_recipient_idx ON epoch_seals (mesh_id, recipient, scope, epoch);
