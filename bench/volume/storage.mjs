// What the local D1 file holds, read straight from it (node:sqlite, read-only, while the Worker is idle): its size in
// pages, the free pages, dbstat's bytes of every table and index (pages, so with their slack; no VACUUM), and row counts.
import { DatabaseSync } from "node:sqlite";
import { d1File } from "../harness.mjs";

const open = (persistTo) => new DatabaseSync(d1File(persistTo), { readOnly: true });

/** The file's size (page_count × page_size: what D1 counts), its free pages, and every object's bytes and rows. */
export function measureFile(persistTo) {
  const db = open(persistTo);
  try {
    const pragma = (name) => Number(Object.values(db.prepare(`PRAGMA ${name}`).get())[0]);
    const pageSize = pragma("page_size");
    const objects = db
      .prepare(
        `SELECT s.name AS name, coalesce(m.tbl_name, s.name) AS tbl, sum(s.pgsize) AS bytes, sum(s.payload) AS payload
         FROM dbstat s LEFT JOIN sqlite_schema m ON m.name = s.name GROUP BY s.name ORDER BY bytes DESC`,
      )
      .all()
      .map((r) => ({ name: r.name, table: r.tbl, bytes: Number(r.bytes), payload: Number(r.payload) }));
    const tables = db
      .prepare("SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
      .all()
      .map((r) => r.name);
    const rowCounts = tables.map((table) => ({
      table,
      rows: Number(db.prepare(`SELECT count(*) AS n FROM "${table}"`).get().n),
    }));
    return {
      pageSize,
      fileBytes: pragma("page_count") * pageSize,
      freeBytes: pragma("freelist_count") * pageSize,
      objects,
      rowCounts,
    };
  } finally {
    db.close();
  }
}

/**
 * Bytes of an archive_days row by kind of scope (a busy or a sparse webhook's day, a busy or a sparse owner's), and of
 * an archive_hours row as a function of its chunks. A row's share of its table's b-tree is its payload's share (the
 * pages' slack spread evenly); its share of the indexes (key and day) is an equal one.
 */
export function archiveDaysUnits(persistTo, { busyScopes, sparseScopes, busyOwners, sparseOwners }) {
  const db = open(persistTo);
  try {
    const treeBytes = (name) =>
      Number(db.prepare("SELECT coalesce(sum(pgsize), 0) AS b FROM dbstat WHERE name = ?").get(name).b);
    const indexBytes = (table) =>
      Number(
        db
          .prepare(
            `SELECT coalesce(sum(s.pgsize), 0) AS b FROM dbstat s JOIN sqlite_schema m ON m.name = s.name
             WHERE m.type = 'index' AND m.tbl_name = ?`,
          )
          .get(table).b,
      );
    // archive_days
    const days = db
      .prepare(
        `SELECT scope, day, length(CAST(scope AS BLOB)) + 8 + length(CAST(counts AS BLOB))
           + coalesce(length(CAST(event_hashes AS BLOB)), 0) AS payload FROM archive_days`,
      )
      .all()
      .map((r) => ({ scope: r.scope, day: Number(r.day), payload: Number(r.payload) }));
    const dayPayload = days.reduce((a, r) => a + r.payload, 0);
    const dayFill = treeBytes("archive_days") / dayPayload;
    const dayIndexPerRow = indexBytes("archive_days") / days.length;
    const classBytes = (scopes) => {
      const set = new Set(scopes);
      const rows = days.filter((r) => set.has(r.scope));
      // The fullest day of each scope: the traffic's whole day.
      const fullest = new Map();
      for (const r of rows) if ((fullest.get(r.scope)?.payload ?? -1) < r.payload) fullest.set(r.scope, r);
      const list = [...fullest.values()];
      const payload = list.reduce((a, r) => a + r.payload, 0) / list.length;
      return { bytes: Math.round(payload * dayFill + dayIndexPerRow), payload: Math.round(payload), rows: list.length };
    };
    const busy = classBytes(busyScopes);
    const sparse = classBytes(sparseScopes);
    const busyOwner = classBytes(busyOwners);
    const sparseOwner = classBytes(sparseOwners);
    // archive_hours: a row per kind and hour; its chunks object grows by one entry per chunk.
    const hours = db
      .prepare(
        `SELECT length(CAST(kind AS BLOB)) + 8 AS key, length(CAST(chunks AS BLOB)) AS chunks_bytes,
           (SELECT count(*) FROM json_each(chunks)) AS chunks FROM archive_hours`,
      )
      .all()
      .map((r) => ({ key: Number(r.key), chunksBytes: Number(r.chunks_bytes), chunks: Number(r.chunks) }));
    const withChunks = hours.filter((h) => h.chunks > 0);
    const hourPayload = hours.reduce((a, h) => a + h.key + h.chunksBytes, 0);
    const hourFill = treeBytes("archive_hours") / hourPayload;
    const entryBytes = withChunks.reduce((a, h) => a + (h.chunksBytes - 2) / h.chunks, 0) / withChunks.length;
    const keyBytes = hours.reduce((a, h) => a + h.key, 0) / hours.length;
    return {
      archive_days_row_bytes: {
        busy_webhook_day: busy.bytes,
        sparse_webhook_day: sparse.bytes,
        busy_owner_day: busyOwner.bytes,
        sparse_owner_day: sparseOwner.bytes,
      },
      archive_days_detail: {
        payload_bytes: {
          busy_webhook_day: busy.payload,
          sparse_webhook_day: sparse.payload,
          busy_owner_day: busyOwner.payload,
          sparse_owner_day: sparseOwner.payload,
        },
        rows_measured: {
          busy: busy.rows,
          sparse: sparse.rows,
          busy_owner: busyOwner.rows,
          sparse_owner: sparseOwner.rows,
        },
        table_bytes_per_payload_byte: Number(dayFill.toFixed(3)),
        index_bytes_per_row: Math.round(dayIndexPerRow),
      },
      archive_hours_row: {
        // bytes(chunks) = (key_bytes + 2 + chunks × entry_bytes) × table_bytes_per_payload_byte + index_bytes_per_row
        key_bytes: Math.round(keyBytes),
        entry_bytes: Math.round(entryBytes),
        table_bytes_per_payload_byte: Number(hourFill.toFixed(3)),
        index_bytes_per_row: Math.round(indexBytes("archive_hours") / hours.length),
        rows_measured: hours.length,
      },
    };
  } finally {
    db.close();
  }
}
