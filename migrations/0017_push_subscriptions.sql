-- Web Push subscriptions (docs/web.md "Web Push", docs/protocol.md §8.6): a browser's push endpoint
-- and its RFC 8291 keys, per API key. Mentions and replies of the key's member are pushed to it after
-- their post commits; the payload names who, where and which message, never its text. A row goes
-- with its key (revoking a key leaves its rows unused; deleting one deletes them), when the push
-- service answers 404/410, or after 5 failed pushes in a row.
CREATE TABLE push_subscriptions (
  id           bigserial   NOT NULL,
  mesh_id      uuid        NOT NULL,
  member_id    bigint      NOT NULL,
  key_id       text        NOT NULL,
  endpoint     text        NOT NULL,
  p256dh       text        NOT NULL,
  auth         text        NOT NULL,
  kinds        text[]      NOT NULL DEFAULT ARRAY['mention', 'reply']::text[],
  created_at   timestamptz NOT NULL DEFAULT now(),
  last_sent_at timestamptz,
  failures     integer     NOT NULL DEFAULT 0,
  CONSTRAINT push_subscriptions_pkey PRIMARY KEY (id),
  CONSTRAINT push_subscriptions_key_endpoint_key UNIQUE (key_id, endpoint),
  CONSTRAINT push_subscriptions_key_fkey FOREIGN KEY (key_id) REFERENCES api_keys (id) ON DELETE CASCADE,
  CONSTRAINT push_subscriptions_member_fkey FOREIGN KEY (member_id) REFERENCES members (id) ON DELETE CASCADE
);
CREATE INDEX push_subscriptions_member_idx ON push_subscriptions (member_id);
