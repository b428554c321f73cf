-- Up Migration
-- A message taken back (its replicas never confirmed it: it was never stored) is kept as a
-- withdrawn row at the highest version, so an archiver's copy that commits late can never
-- bring it back; readers never show one.
ALTER TABLE messages ADD COLUMN withdrawn boolean NOT NULL DEFAULT false;

-- Search looks in the user's rooms only: with btree_gin (PostgreSQL's contrib, a trusted
-- extension), one GIN index over (room, words) finds the matches of those rooms without
-- touching other rooms' rows. Where the extension is not available, search uses the words
-- index alone.
DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'btree_gin') THEN
    CREATE EXTENSION IF NOT EXISTS btree_gin;
    CREATE INDEX messages_room_search ON messages USING gin (room, search);
  END IF;
EXCEPTION WHEN insufficient_privilege THEN
  RAISE NOTICE 'btree_gin not installed (no privilege): search uses the words index alone';
END
$$;

-- Down Migration
DROP INDEX IF EXISTS messages_room_search;
ALTER TABLE messages DROP COLUMN withdrawn;
