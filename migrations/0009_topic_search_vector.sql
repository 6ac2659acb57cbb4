-- Search reads a stored tsvector instead of parsing every matching body again to rank it (on the
-- embedded database one search shares the single session with every hello and send). A trigger
-- keeps it in step with `body`, whatever path writes the row; version-2 rows (no body) get an empty one.
ALTER TABLE topic_messages ADD COLUMN body_tsv tsvector;

CREATE FUNCTION cmh_topic_message_tsv() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.body_tsv := to_tsvector('simple', coalesce(NEW.body, ''));
  RETURN NEW;
END $$;
CREATE TRIGGER topic_messages_body_tsv BEFORE INSERT OR UPDATE OF body ON topic_messages FOR EACH ROW EXECUTE FUNCTION cmh_topic_message_tsv();

UPDATE topic_messages SET body_tsv = to_tsvector('simple', coalesce(body, ''));
ALTER TABLE topic_messages ALTER COLUMN body_tsv SET NOT NULL;

-- The expression index of 0006 is replaced by one on the stored column (same name, same queries' purpose).
DROP INDEX topic_messages_search_idx;
CREATE INDEX topic_messages_search_idx ON topic_messages USING gin (body_tsv);
