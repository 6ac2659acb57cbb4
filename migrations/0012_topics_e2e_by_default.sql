-- New topics are end-to-end encrypted unless created otherwise (docs/topics.md "Encryption"). The
-- column default is what the #general trigger of migration 0006 inserts, so #general of every mesh
-- created from now on is e2e, keyed by the first member client that posts in it. Topics that exist,
-- #general of older meshes included, keep the mode they have: nothing stored changes.
ALTER TABLE topics ALTER COLUMN encryption SET DEFAULT 'e2e';

-- Scheduled rotation counts the messages under a topic's current epoch (apps/broker/src/epochs/epoch-use.ts)
-- once per epoch and node: an index keeps that count to the epoch's own rows.
CREATE INDEX topic_messages_epoch_idx ON topic_messages (topic_id, key_epoch) WHERE key_epoch IS NOT NULL;
