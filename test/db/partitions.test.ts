// The hourly partitions and the views over them (src/db/partitions.ts): however many hours are live (the hot window, the
// next hour, hours not sealed yet while the storage cron was down), every read through deliveries_live / events_live
// works and reaches each partition through its own keys.
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { interceptD1 } from "../../scripts/lib/d1-intercept";
import { createDb } from "../../src/db/client";
import {
  COMPOUND_SELECT_LIMIT,
  createPartitions,
  dropPartitionStatements,
  firstDeliveryIdAt,
  HOUR_MS,
  hourOf,
  listPartitionHours,
  livePartitions,
  partitionName,
  tablesOf,
} from "../../src/db/partitions";
import { completeEnvelope, storeEvent } from "../../src/domain/publish";

const FIRST_HOUR = 470_000; // hours since the epoch (2023)

/** One delivery of webhook `wh_parts` (and its event) in each of `tables`, created in the hour each names. */
async function seedEach(tables: readonly { hour: number; deliveries: string; events: string }[]) {
  await env.DB.batch(
    tables.flatMap(({ hour, deliveries, events }) => {
      const at = hour * HOUR_MS + 1000;
      return [
        env.DB.prepare(
          `INSERT INTO "${events}" (owner_key, event_id, event_type, tenant_id, partner_id, payload, created_at)
           VALUES ('t:tnt_parts', ?1, 'user.created', 'tnt_parts', NULL, '{}', ?2)`,
        ).bind(`evt_${hour}`, at),
        env.DB.prepare(
          `INSERT INTO "${deliveries}" (webhook_id, id, event_owner, event_id, event_hour, event_type, status,
             attempt_count, due_at, in_queue, attempts, created_at, updated_at)
           VALUES ('wh_parts', ?1, 't:tnt_parts', ?2, ?3, 'user.created', 'pending', 0, ?4, 1, '[]', ?4, ?4)`,
        ).bind(firstDeliveryIdAt(at), `evt_${hour}`, hour, at),
      ];
    }),
  );
}

const plan = async (sql: string, ...params: unknown[]) =>
  (
    await env.DB.prepare(`EXPLAIN QUERY PLAN ${sql}`)
      .bind(...params)
      .all<{ detail: string }>()
  ).results.map((r) => r.detail);

describe("the views over the partitions", () => {
  it("hold a day of partitions and more than D1's compound SELECT limit, read through each one's keys", async () => {
    const hours = Array.from({ length: 26 }, (_, i) => FIRST_HOUR + i);
    expect(hours.length + 1).toBeGreaterThan(COMPOUND_SELECT_LIMIT ** 2); // three levels of views
    await createPartitions(env.DB, hours);
    expect(await listPartitionHours(env.DB)).toEqual(hours);
    await seedEach([
      { hour: FIRST_HOUR - 1, deliveries: "deliveries", events: "events" },
      ...hours.map((hour) => ({
        hour,
        deliveries: partitionName("deliveries", hour),
        events: partitionName("events", hour),
      })),
    ]);

    const all = await env.DB.prepare(
      "SELECT id FROM deliveries_live WHERE webhook_id = 'wh_parts' ORDER BY id DESC",
    ).all<{ id: number }>();
    expect(all.results.map((r) => r.id)).toEqual(
      [FIRST_HOUR - 1, ...hours].map((h) => firstDeliveryIdAt(h * HOUR_MS + 1000)).reverse(),
    );
    const events = await env.DB.prepare(
      "SELECT count(*) AS n FROM events_live WHERE owner_key = 't:tnt_parts'",
    ).first();
    expect(events).toEqual({ n: hours.length + 1 });

    // The list: every table through its primary key, merged in id order without a sort.
    const list = await plan(
      "SELECT * FROM deliveries_live WHERE webhook_id = ?1 ORDER BY id DESC LIMIT 20",
      "wh_parts",
    );
    const tables = tablesOf("deliveries", hours);
    for (const table of tables) expect(list, table).toContain(`SEARCH ${table} USING PRIMARY KEY (webhook_id=?)`);
    expect(list.filter((line) => /^SCAN|TEMP B-TREE/.test(line))).toEqual([]);
    // A point read: the primary key of each.
    const point = await plan("SELECT * FROM deliveries_live WHERE webhook_id = ?1 AND id = ?2", "wh_parts", 1);
    for (const table of tables)
      expect(point, table).toContain(`SEARCH ${table} USING PRIMARY KEY (webhook_id=? AND id=?)`);
    // The open deliveries: each one's partial index.
    const open = await plan(
      "SELECT id FROM deliveries_live WHERE completed_at IS NULL AND id > ?1 ORDER BY id LIMIT 5",
      0,
    );
    for (const table of tables)
      expect(
        open.some((line) => line.startsWith(`SEARCH ${table} USING INDEX`)),
        table,
      ).toBe(true);
    expect(open.filter((line) => /^SCAN|TEMP B-TREE/.test(line))).toEqual([]);

    // Dropping the partitions one by one, down to none, keeps the views whole.
    let left = hours;
    for (const hour of hours) {
      await env.DB.batch(await dropPartitionStatements(env.DB, hour, left));
      left = left.filter((h) => h !== hour);
      const n = await env.DB.prepare("SELECT count(*) AS n FROM deliveries_live WHERE webhook_id = 'wh_parts'").first();
      expect(n, `after dropping ${hour}`).toEqual({ n: left.length + 1 });
    }
    const views = await env.DB.prepare("SELECT name FROM sqlite_master WHERE type = 'view' ORDER BY name").all();
    expect(views.results).toEqual([{ name: "deliveries_live" }, { name: "events_live" }]);
  });
});

describe("partitions created from two isolates at once", () => {
  it("both succeed, with one set of tables and views between them", async () => {
    const hours = Array.from({ length: 12 }, (_, i) => FIRST_HOUR + 100 + i); // past the limit: views of views
    // Both read what exists before either writes, as two isolates publishing at the turn of the hour may.
    await Promise.all([createPartitions(env.DB, hours), createPartitions(env.DB, hours)]);
    expect(await listPartitionHours(env.DB)).toEqual(expect.arrayContaining(hours));
    await seedEach([
      {
        hour: hours[5]!,
        deliveries: partitionName("deliveries", hours[5]!),
        events: partitionName("events", hours[5]!),
      },
    ]);
    const n = await env.DB.prepare("SELECT count(*) AS n FROM deliveries_live WHERE webhook_id = 'wh_parts' AND id = ?")
      .bind(firstDeliveryIdAt(hours[5]! * HOUR_MS + 1000))
      .first();
    expect(n).toEqual({ n: 1 });
    let left = await listPartitionHours(env.DB);
    for (const hour of hours) {
      await env.DB.batch(await dropPartitionStatements(env.DB, hour, left));
      left = left.filter((h) => h !== hour);
    }
  });
});

describe("an isolate's view of the partitions", () => {
  it("is looked at again after a look that failed (D1 unavailable for a moment), not kept failing", async () => {
    let failures = 1;
    const flaky = interceptD1(env.DB, {
      statement: (_op, statement, _args, call) =>
        (statement as unknown as { statement: string }).statement.includes("sqlite_master") && failures-- > 0
          ? Promise.reject(new Error("D1_ERROR: database is unavailable"))
          : call(),
    });
    await expect(livePartitions(flaky)).rejects.toThrow(/unavailable/);
    expect((await livePartitions(flaky)).hours).toEqual(await listPartitionHours(env.DB));
    // And a publish through it goes through.
    const now = Date.now();
    await createPartitions(env.DB, [hourOf(now), hourOf(now) + 1]);
    failures = 1;
    const other = interceptD1(env.DB, {
      statement: (_op, statement, _args, call) =>
        (statement as unknown as { statement: string }).statement.includes("sqlite_master") && failures-- > 0
          ? Promise.reject(new Error("D1_ERROR: database is unavailable"))
          : call(),
    });
    const envelope = completeEnvelope(
      { event_type: "user.created", tenant_id: "tnt_parts", resource: { type: "user", id: "usr_1" }, data: {} },
      now,
    );
    await expect(storeEvent(createDb(other), envelope, now)).rejects.toThrow(/unavailable/);
    await expect(storeEvent(createDb(other), envelope, now)).resolves.toEqual({ refs: [], partnerShares: [] });
  });
});
