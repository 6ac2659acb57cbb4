-- One-time web sign-in links (docs/protocol.md §8.6): an API key sealed under a code the broker never
-- sees (it travels in the link's fragment). A row is filed under the code's lookup, answered once
-- (the row is deleted by the answer) and only before it expires, and only while its key still works.
CREATE TABLE web_signins (
  lookup     text        NOT NULL,
  mesh_id    uuid        NOT NULL,
  key_id     text        NOT NULL,
  sealed     text        NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz NOT NULL,
  CONSTRAINT web_signins_pkey PRIMARY KEY (lookup),
  CONSTRAINT web_signins_key_fkey FOREIGN KEY (key_id) REFERENCES api_keys (id) ON DELETE CASCADE
);
CREATE INDEX web_signins_key_idx ON web_signins (key_id);
CREATE INDEX web_signins_expires_idx ON web_signins (expires_at);
