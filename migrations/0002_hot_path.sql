-- The send path's tables carry no foreign keys: each accepted message costs one row in messages and
-- one per recipient in deliveries, and four per-row foreign-key triggers were a third of that cost
-- (measured: 500 messages with their deliveries in one statement, 28 ms with them, 17 ms without).
-- Integrity holds by construction: a message and its deliveries are written by one statement, the
-- sender and recipients are live members resolved by the broker, and members and meshes are never
-- deleted (members are revoked). Should deletion ever come, it deletes deliveries and messages first.
ALTER TABLE deliveries DROP CONSTRAINT deliveries_message_fkey;
ALTER TABLE deliveries DROP CONSTRAINT deliveries_recipient_fkey;
ALTER TABLE messages DROP CONSTRAINT messages_mesh_fkey;
ALTER TABLE messages DROP CONSTRAINT messages_sender_fkey;

-- Which state advances the sender wants pushed as receipt frames (protocol §7.3): 'all' by default
-- for a DM, 'none' for @group and * (a group of 100 would otherwise send its sender 100 receipts per
-- message; message_status answers on request).
ALTER TABLE messages ADD COLUMN receipts text NOT NULL DEFAULT 'all';
ALTER TABLE messages ADD CONSTRAINT messages_receipts_check CHECK (receipts IN ('all', 'read', 'none'));
