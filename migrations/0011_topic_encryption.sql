-- End-to-end encrypted topics (docs/topics.md "Encryption"): a topic says which body versions it
-- takes. Topics that exist keep what they were: plaintext (their clients and integrations post
-- text over REST and the CLI). Version-2 rows keep their sender's signature so every reader, and
-- the broker before storing, can check who wrote them for which mesh, scope, epoch and id.
ALTER TABLE topics ADD COLUMN encryption text NOT NULL DEFAULT 'plaintext';
ALTER TABLE topics ADD CONSTRAINT topics_encryption_check CHECK (encryption IN ('e2e', 'plaintext'));

ALTER TABLE topic_messages ADD COLUMN sig text;
ALTER TABLE topic_messages DROP CONSTRAINT topic_messages_body_check;
ALTER TABLE topic_messages ADD CONSTRAINT topic_messages_body_check CHECK (
  (body_version = 1 AND body IS NOT NULL AND ciphertext IS NULL AND sig IS NULL)
  OR (body_version = 2 AND body IS NULL AND nonce IS NOT NULL AND ciphertext IS NOT NULL AND key_epoch IS NOT NULL AND sig IS NOT NULL)
);
