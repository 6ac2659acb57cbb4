-- `@group` and `*` messages under the mesh scope's key epochs (docs/protocol.md §5.2 `send`,
-- body_version 2). Such a row keeps the epoch it was sealed under and its sender's signature, so
-- every recipient (live or from the offline queue) can check who wrote it for which mesh, epoch, id
-- and target. Rows sealed under the mesh key (and every DM) have neither.
ALTER TABLE messages ADD COLUMN key_epoch integer;
ALTER TABLE messages ADD COLUMN sig text;
ALTER TABLE messages ADD CONSTRAINT messages_epoch_check CHECK (
  (key_epoch IS NULL AND sig IS NULL)
  OR (key_epoch IS NOT NULL AND key_epoch >= 1 AND sig IS NOT NULL AND kind IN ('group', 'broadcast'))
);

-- Scheduled rotation counts the messages under the mesh scope's current epoch (docs/protocol.md §5.6).
CREATE INDEX messages_epoch_idx ON messages (mesh_id, key_epoch) WHERE key_epoch IS NOT NULL;
