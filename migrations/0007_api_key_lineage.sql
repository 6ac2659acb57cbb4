-- A key minted with another key (POST /api/v1/apikeys) records that parent: revoking or expiring
-- the parent ends the child from its next request, transitively (docs/topics.md, API keys). Keys a
-- member makes with a signed request have no parent. Older keys keep NULL: their lineage is unknown.
ALTER TABLE api_keys ADD COLUMN parent_key_id text;
ALTER TABLE api_keys ADD CONSTRAINT api_keys_parent_fkey FOREIGN KEY (parent_key_id) REFERENCES api_keys (id) ON DELETE CASCADE;
CREATE INDEX api_keys_parent_idx ON api_keys (parent_key_id);
