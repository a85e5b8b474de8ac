// Which stage of a delivery's life each D1 statement belongs to, told from the trigger that ran it (the instrumented
// Worker's buckets: fetch, queue, cron:<expression>) and its text; and what it wrote counting every index entry.
//
// Local D1 counts rows written from SQLite's own work (meta.rows_written: each row and index entry inserted, each row
// updated, each row deleted); bench/instrumented.ts's calibration shows what it leaves out: index entries removed (by a
// DELETE, or by an UPDATE that assigns an indexed column: the old entry goes, the new one is inserted and counted) and
// whole tables dropped. The "all index entries" figure adds the removals: for a DELETE, each removed row's entries in
// every index of its table that is not partial (the rows deleted here are never in a partial one); for an UPDATE of a
// delivery that assigns completed_at (its last attempt recorded, or a cancellation), the row's entry in
// deliveries_open_idx, which it leaves. A DROP TABLE is no DELETE: it writes no row (local D1 counts 0, as it bills
// statements by the rows they write). The "with drops" figure counts it anyway, as if D1 billed each row and index
// entry the dropped partition held: the bound if it ever did.

/** [trigger, statement pattern, stage]; the first match wins. */
const RULES = [
  [/^cron:/, /job_runs/, "cron_fixed"],
  [/./, /sqlite_master|^(CREATE (TABLE|INDEX|VIEW)|DROP VIEW)/i, "partitions"],
  [/^fetch$/, /./, "publish"],
  [/^queue$/, /^UPDATE "deliveries[^"]*" SET attempt_count = attempt_count \+ 1/, "claim"],
  [/^queue$/, /^SELECT/i, "claim"],
  [/^queue$/, /"job_cursors"/, "watermark"],
  [/^queue$/, /webhook_stats_(hourly|daily)/, "stats"],
  [/^queue$/, /webhook_endpoints/, "health"],
  [/^queue$/, /./, "record"],
  [/^cron:\* \* \* \* \*$/, /^UPDATE "deliveries[^"]*" SET in_queue = 1/, "sweep"],
  [/^cron:\* \* \* \* \*$/, /./, "cron_fixed"],
  [/^cron:\*\/3 \* \* \* \*$/, /job_cursors/, "cron_fixed"],
  [
    /^cron:\*\/3 \* \* \* \*$/,
    /^DELETE FROM (archive_hours|archive_days|webhook_stats|resent_deliveries)|FROM archive_hours WHERE kind = \?1 AND hour <|FROM archive_days WHERE day < \?1/,
    "retention",
  ],
  [/^cron:\*\/3 \* \* \* \*$/, /./, "archive"],
];

const stageOf = (trigger, statement) => RULES.find(([t, s]) => t.test(trigger) && s.test(statement))?.[2] ?? "other";

/** The stages the issue reports, as groups of the fine ones. */
export const STAGE_GROUPS = {
  publish: ["publish"],
  claim: ["claim"],
  record: ["record"],
  health_stats_watermark_sweep: ["health", "stats", "watermark", "sweep"],
  archive: ["archive"],
  retention: ["retention"],
};
// Not per delivery, and so in no group: cron_fixed (per cron run: job records, the storage lease, the sweep's cursors
// and probe) and partitions (per hour: a partition pair's DDL).

const DELETE_FROM = /^DELETE FROM "?([a-z_]+?)(_p\*)?"?[\s(]/i;
// Recording an attempt or cancelling: assigns completed_at, the column deliveries_open_idx is partial on.
const OPEN_INDEX_EXIT = /^UPDATE "deliveries(_p\*)?" SET .*completed_at = /;
const DROP_TABLE = /^DROP TABLE/i;

/** Entries one row of `table` has: its table b-tree (the key, WITHOUT ROWID) and every index that is not partial. */
const entriesPerRow = (schema, table) => 1 + (schema[table]?.indexes.filter((i) => !i.partial).length ?? 0);

/** Rows written by stage over a phase's counters: { local, all } per fine stage, and the extra per kind of removal. */
export function rowsByStage(counters, { schema }) {
  const stages = {};
  const add = (stage, key, value) => {
    stages[stage] ??= { local: 0, all: 0, with_drops: 0, rows_read: 0, statements: 0 };
    stages[stage][key] += value;
  };
  const extra = { deletes: 0, drops: 0, partial_index_exits: 0 };
  for (const [trigger, bucket] of Object.entries(counters.buckets)) {
    if (trigger === "bench") continue;
    for (const [statement, c] of Object.entries(bucket.d1ByStatement)) {
      const stage = stageOf(trigger, statement);
      add(stage, "local", c.rowsWritten);
      add(stage, "all", c.rowsWritten);
      add(stage, "with_drops", c.rowsWritten);
      add(stage, "rows_read", c.rowsRead);
      add(stage, "statements", c.calls);
      const deleted = DELETE_FROM.exec(statement);
      if (deleted) {
        const table = deleted[1];
        const more = Math.max(0, c.changes * entriesPerRow(schema, table) - c.rowsWritten);
        add(stage, "all", more);
        add(stage, "with_drops", more);
        extra.deletes += more;
      }
      if (OPEN_INDEX_EXIT.test(statement)) {
        const partial = schema.deliveries?.indexes.filter((i) => i.partial).length ?? 0;
        add(stage, "all", c.changes * partial);
        add(stage, "with_drops", c.changes * partial);
        extra.partial_index_exits += c.changes * partial;
      }
      if (DROP_TABLE.test(statement)) add(stage, "with_drops", -c.rowsWritten); // replaced by what the tables held
    }
    const dropped = bucket.dropped.rows + bucket.dropped.indexEntries;
    if (dropped > 0) {
      add(stageOf(trigger, 'DROP TABLE IF EXISTS "deliveries_p*"'), "with_drops", dropped);
      extra.drops += dropped;
    }
  }
  return { stages, extra };
}

/** The statements of a phase with what each wrote, heaviest first (for the report's detail). */
export function statementTable(counters) {
  const rows = [];
  for (const [trigger, bucket] of Object.entries(counters.buckets)) {
    if (trigger === "bench") continue;
    for (const [statement, c] of Object.entries(bucket.d1ByStatement))
      if (c.rowsWritten > 0 || c.changes > 0)
        rows.push({ trigger, stage: stageOf(trigger, statement), statement: statement.slice(0, 120), ...c });
  }
  return rows.sort((a, b) => b.rowsWritten - a.rowsWritten);
}
