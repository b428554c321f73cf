-- Up Migration
-- Files shared in rooms (src/files/). The bytes live in a blob store (local disk under
-- ./data/files, or S3-compatible storage); this is their record. A file is uploaded into
-- one room and is readable by whoever may read that room, at the moment of each request.
-- `msg_ms`/`msg_seq`: the message that carries it, set by the archiver once PostgreSQL holds
-- that message; null while it waits to be sent (or is still only in Redis). `deleted_at`:
-- its message was deleted (or expired under retention), or it was never sent: it is no
-- longer served, and the sweep removes its bytes and then the row.
CREATE TABLE files (
  id text PRIMARY KEY,
  room text NOT NULL,
  uploader text NOT NULL,
  name text NOT NULL,
  type text NOT NULL,
  size bigint NOT NULL,
  width integer,
  height integer,
  -- The variants stored beside the original: 'thumb' and 'image' for raster images.
  variants text[] NOT NULL DEFAULT '{}',
  msg_ms bigint,
  msg_seq bigint,
  created_at timestamptz NOT NULL DEFAULT now(),
  deleted_at timestamptz
);
CREATE INDEX files_room_message ON files (room, msg_ms, msg_seq);
CREATE INDEX files_unsent ON files (created_at) WHERE msg_ms IS NULL AND deleted_at IS NULL;
CREATE INDEX files_deleted ON files (deleted_at) WHERE deleted_at IS NOT NULL;
CREATE INDEX files_sent ON files (msg_ms) WHERE deleted_at IS NULL;

-- A message's attachments as it carries them (JSON: id, name, size, type, width, height).
ALTER TABLE messages ADD COLUMN files jsonb;

-- Down Migration
ALTER TABLE messages DROP COLUMN files;
DROP TABLE files;
