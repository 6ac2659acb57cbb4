-- Shared history for e2e topics (docs/topics.md "Joiners and history", docs/crypto.md "Shared
-- history"). A topic's `history` says whether members who join later get the keys of the epochs
-- before their join: `since_join` (every topic so far) or `shared`. Fixed at creation.
ALTER TABLE topics ADD COLUMN history text NOT NULL DEFAULT 'since_join';
ALTER TABLE topics ADD CONSTRAINT topics_history_check CHECK (history IN ('since_join', 'shared'));

-- A history seal is a seal of an earlier epoch to a member that epoch does not list, shared under
-- the later epoch `via_epoch` that lists it; ordinary seals have none. A joiner fetches its history
-- seals with the page of epochs that holds `via_epoch`.
ALTER TABLE epoch_seals ADD COLUMN via_epoch integer;
ALTER TABLE epoch_seals ADD CONSTRAINT epoch_seals_via_check CHECK (via_epoch IS NULL OR via_epoch > epoch);
CREATE INDEX epoch_seals_history_idx ON epoch_seals (mesh_id, recipient, scope, via_epoch) WHERE via_epoch IS NOT NULL;
