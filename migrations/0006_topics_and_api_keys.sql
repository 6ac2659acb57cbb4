-- Topics (docs/topics.md): conversation scopes inside a mesh, with durable per-topic history.
-- body_version 1 is plaintext the broker can read (REST/SSE clients, search, mentions); version 2
-- (a later per-topic key) carries nonce + ciphertext under a topic key epoch instead, in the same
-- rows, so adding it needs no change to this table.
CREATE TABLE topics (
  id                   bigserial   NOT NULL,
  mesh_id              uuid        NOT NULL,
  name                 text        NOT NULL,
  visibility           text        NOT NULL DEFAULT 'public',
  description          text        NOT NULL DEFAULT '',
  created_by_member_id bigint,
  created_at           timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT topics_pkey PRIMARY KEY (id),
  CONSTRAINT topics_mesh_name_key UNIQUE (mesh_id, name),
  CONSTRAINT topics_visibility_check CHECK (visibility IN ('public', 'private')),
  CONSTRAINT topics_mesh_fkey FOREIGN KEY (mesh_id) REFERENCES meshes (id) ON DELETE CASCADE
);

CREATE TABLE topic_members (
  topic_id     bigint      NOT NULL,
  member_id    bigint      NOT NULL,
  joined_at    timestamptz NOT NULL DEFAULT now(),
  -- the newest message id the member has read (unread = messages above it)
  last_read_id bigint      NOT NULL DEFAULT 0,
  CONSTRAINT topic_members_pkey PRIMARY KEY (topic_id, member_id),
  CONSTRAINT topic_members_topic_fkey FOREIGN KEY (topic_id) REFERENCES topics (id) ON DELETE CASCADE,
  CONSTRAINT topic_members_member_fkey FOREIGN KEY (member_id) REFERENCES members (id) ON DELETE CASCADE
);
CREATE INDEX topic_members_member_idx ON topic_members (member_id);

CREATE TABLE topic_messages (
  id               bigserial   NOT NULL,
  topic_id         bigint      NOT NULL,
  mesh_id          uuid        NOT NULL,
  sender_member_id bigint      NOT NULL,
  client_id        text        NOT NULL,
  reply_to         bigint,
  body_version     smallint    NOT NULL DEFAULT 1,
  body             text,
  nonce            bytea,
  ciphertext       bytea,
  key_epoch        integer,
  created_at       timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT topic_messages_pkey PRIMARY KEY (id),
  CONSTRAINT topic_messages_sender_client_key UNIQUE (sender_member_id, client_id),
  CONSTRAINT topic_messages_body_check CHECK (
    (body_version = 1 AND body IS NOT NULL AND ciphertext IS NULL)
    OR (body_version = 2 AND body IS NULL AND nonce IS NOT NULL AND ciphertext IS NOT NULL AND key_epoch IS NOT NULL)
  ),
  CONSTRAINT topic_messages_topic_fkey FOREIGN KEY (topic_id) REFERENCES topics (id) ON DELETE CASCADE
);
CREATE INDEX topic_messages_topic_idx ON topic_messages (topic_id, id);
-- Full-text search over version-1 bodies; queries use the same expression (TopicSearch).
CREATE INDEX topic_messages_search_idx ON topic_messages USING gin (to_tsvector('simple', coalesce(body, '')));

-- Mentions and replies, recorded when the message is written (never by scanning bodies on read).
CREATE TABLE notifications (
  id              bigserial   NOT NULL,
  mesh_id         uuid        NOT NULL,
  member_id       bigint      NOT NULL,
  kind            text        NOT NULL,
  topic_id        bigint      NOT NULL,
  message_id      bigint      NOT NULL,
  actor_member_id bigint      NOT NULL,
  created_at      timestamptz NOT NULL DEFAULT now(),
  read_at         timestamptz,
  CONSTRAINT notifications_pkey PRIMARY KEY (id),
  CONSTRAINT notifications_member_message_kind_key UNIQUE (member_id, message_id, kind),
  CONSTRAINT notifications_kind_check CHECK (kind IN ('mention', 'reply')),
  CONSTRAINT notifications_member_fkey FOREIGN KEY (member_id) REFERENCES members (id) ON DELETE CASCADE,
  CONSTRAINT notifications_message_fkey FOREIGN KEY (message_id) REFERENCES topic_messages (id) ON DELETE CASCADE
);
CREATE INDEX notifications_member_idx ON notifications (member_id, id);

-- API keys (docs/topics.md): bearer secrets for REST and SSE. Only a SHA-256 of the secret is kept;
-- the id is the public prefix the key is looked up by. A key acts as one member of one mesh.
CREATE TABLE api_keys (
  id                   text        NOT NULL,
  mesh_id              uuid        NOT NULL,
  member_id            bigint      NOT NULL,
  created_by_member_id bigint      NOT NULL,
  label                text        NOT NULL DEFAULT '',
  secret_sha256        text        NOT NULL,
  capabilities         text[]      NOT NULL,
  topics               text[],
  created_at           timestamptz NOT NULL DEFAULT now(),
  expires_at           timestamptz,
  last_used_at         timestamptz,
  revoked_at           timestamptz,
  CONSTRAINT api_keys_pkey PRIMARY KEY (id),
  CONSTRAINT api_keys_member_fkey FOREIGN KEY (member_id) REFERENCES members (id) ON DELETE CASCADE,
  CONSTRAINT api_keys_mesh_fkey FOREIGN KEY (mesh_id) REFERENCES meshes (id) ON DELETE CASCADE
);
CREATE INDEX api_keys_mesh_idx ON api_keys (mesh_id);

-- Members that exist only over REST (a person with an API key and no keypair): they read and write
-- topics, and DMs or group messages to them are refused since nobody could open them.
ALTER TABLE members ADD COLUMN rest_only boolean NOT NULL DEFAULT false;

-- Every mesh has #general and every member is in it, whichever path creates the mesh or the member
-- (mesh creation, invites v1/v2, email invites, REST-only humans): two triggers, and a backfill.
CREATE FUNCTION cmh_create_general_topic() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO topics (mesh_id, name, description) VALUES (NEW.id, 'general', 'Everyone in the mesh') ON CONFLICT DO NOTHING;
  RETURN NEW;
END $$;
CREATE TRIGGER meshes_general_topic AFTER INSERT ON meshes FOR EACH ROW EXECUTE FUNCTION cmh_create_general_topic();

CREATE FUNCTION cmh_join_general_topic() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO topic_members (topic_id, member_id) SELECT id, NEW.id FROM topics WHERE mesh_id = NEW.mesh_id AND name = 'general' ON CONFLICT DO NOTHING;
  RETURN NEW;
END $$;
CREATE TRIGGER members_join_general AFTER INSERT ON members FOR EACH ROW EXECUTE FUNCTION cmh_join_general_topic();

INSERT INTO topics (mesh_id, name, description) SELECT id, 'general', 'Everyone in the mesh' FROM meshes;
INSERT INTO topic_members (topic_id, member_id) SELECT t.id, m.id FROM topics t JOIN members m ON m.mesh_id = t.mesh_id WHERE t.name = 'general';
