// The record of files in PostgreSQL (migration 003): which room a file belongs to, what it is,
// the message that carries it, and whether it was deleted. Every query is by primary key or on
// a partial index, bounded by LIMIT; every one has the database's deadline.
import type { Database } from "../db/database.js";
import type { FileRef } from "../domain/types.js";

/** A file as its downloads need it. */
export interface FileRecord extends FileRef {
  room: string;
  uploader: string;
  /** "thumb" and "image" for raster images. */
  variants: string[];
}

interface Row {
  id: string;
  room: string;
  uploader: string;
  name: string;
  type: string;
  size: string;
  width: number | null;
  height: number | null;
  variants: string[];
}

function toRecord(r: Row): FileRecord {
  const f: FileRecord = {
    id: r.id,
    room: r.room,
    uploader: r.uploader,
    name: r.name,
    type: r.type,
    size: Number(r.size),
    variants: r.variants,
  };
  if (r.width !== null && r.height !== null) {
    f.width = r.width;
    f.height = r.height;
  }
  return f;
}

export class FileRecords {
  constructor(private readonly db: Database) {}

  async insert(f: FileRecord): Promise<void> {
    await this.db.query(
      `INSERT INTO files (id, room, uploader, name, type, size, width, height, variants)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
      [
        f.id,
        f.room,
        f.uploader,
        f.name,
        f.type,
        f.size,
        f.width ?? null,
        f.height ?? null,
        f.variants,
      ],
    );
  }

  /** The file `id` of `room`, unless it was deleted (or belongs to another room). */
  async get(room: string, id: string): Promise<FileRecord | undefined> {
    const r = await this.db.query<Row>(
      `SELECT id, room, uploader, name, type, size, width, height, variants FROM files
       WHERE id = $1 AND room = $2 AND deleted_at IS NULL`,
      [id, room],
    );
    const row = r.rows[0];
    return row ? toRecord(row) : undefined;
  }

  /** Marks files of `room` deleted: from now on they are not served. */
  async markDeleted(room: string, ids: readonly string[]): Promise<void> {
    if (ids.length === 0) return;
    await this.db.query(
      "UPDATE files SET deleted_at = now() WHERE room = $1 AND id = ANY($2::text[]) AND deleted_at IS NULL",
      [room, [...ids]],
    );
  }

  /**
   * Marks deleted the files never sent: created before `before` (ms) and carried by no message
   * PostgreSQL holds. Returns how many.
   */
  async markUnsent(before: number, limit: number): Promise<number> {
    const r = await this.db.query(
      `UPDATE files SET deleted_at = now() WHERE id IN (
         SELECT id FROM files WHERE msg_ms IS NULL AND deleted_at IS NULL
           AND created_at < to_timestamp($1::double precision / 1000) LIMIT $2)`,
      [before, limit],
    );
    return r.rowCount ?? 0;
  }

  /** Up to `limit` deleted files, with their variants (for their bytes to be removed). */
  async deleted(limit: number): Promise<{ id: string; variants: string[] }[]> {
    const r = await this.db.query<{ id: string; variants: string[] }>(
      "SELECT id, variants FROM files WHERE deleted_at IS NOT NULL ORDER BY deleted_at LIMIT $1",
      [limit],
    );
    return r.rows;
  }

  /** Forgets files whose bytes are gone. */
  async forget(ids: readonly string[]): Promise<void> {
    if (ids.length === 0) return;
    await this.db.query("DELETE FROM files WHERE id = ANY($1::text[]) AND deleted_at IS NOT NULL", [
      [...ids],
    ]);
  }
}
