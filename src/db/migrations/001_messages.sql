-- Up Migration
-- The record of every message: what the archiver (src/archive/archiver.ts) copies out of
-- each room's Redis stream, with edits and deletions applied. The key is the room and the
-- message id ("<ms>-<seq>", split so that it orders as numbers). `version` makes every write
-- an idempotent upsert that never goes back: 0 as sent, the edit's time when edited, and
-- 9007199254740991 once deleted; a replay of an older version changes nothing.
CREATE TABLE messages (
  room text NOT NULL,
  ms bigint NOT NULL,
  seq bigint NOT NULL,
  user_id text NOT NULL,
  username text NOT NULL,
  body text NOT NULL,
  sent_at bigint NOT NULL,
  edited_at bigint,
  deleted boolean NOT NULL DEFAULT false,
  mentions text[] NOT NULL DEFAULT '{}',
  version bigint NOT NULL DEFAULT 0,
  -- Filled by the archiver with the configured text-search configuration; null when deleted.
  search tsvector,
  archived_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (room, ms, seq)
);
CREATE INDEX messages_search ON messages USING gin (search);
-- Retention deletes by age; search across rooms pages newest first.
CREATE INDEX messages_sent_at ON messages (sent_at);
CREATE INDEX messages_newest ON messages (ms DESC, seq DESC);

-- Down Migration
DROP TABLE messages;
