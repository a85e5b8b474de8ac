// The case: one delivery keeps retrying under a 24 h Retry-After (the longest the engine honours) while every
// other hour is sealed into the archive and retention runs, on a clock the test moves over three days. It holds back
// nothing: its hour is sealed on time (it waits in the deliveries table), and once it succeeds and is history it is
// archived from there and read back like any other. (Its own file: the storage job at a clock days ahead seals every
// partition, other tests' too.)
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { HOUR_MS, hourOf, listPartitionHours } from "../../src/db/partitions";
import { attemptDelivery } from "../../src/domain/delivery/attempt";
import { api, WEBHOOKS, webhookAtReceiver } from "../helpers/api";
import { deliveryDeps, deliveryRow, seedDelivery, storedPayloads } from "../helpers/deliveries";
import { archivedHours, archiveKeys, storageRun, whereStored } from "../helpers/history";
import { recorded } from "../helpers/receiver";
import { statsRows } from "../helpers/stats";

const MINUTE = 60_000;
const HOUR = HOUR_MS;
const DAY = 24 * HOUR;

const inTable = async (table: "deliveries" | "events", column: string, value: string) =>
  (await env.DB.prepare(`SELECT count(*) AS n FROM ${table} WHERE ${column} = ?`).bind(value).first<number>("n"))!;

describe("a delivery retrying for days", () => {
  it("keeps a delivery retrying under a 24 h Retry-After while everything else archives and retention runs", async () => {
    // Three days ago, on the hour: the test's timeline ends before the real clock, where the API reads.
    const t0 = (hourOf(Date.now()) - 72) * HOUR + 10 * MINUTE;
    const patient = await webhookAtReceiver("tnt_storage_patient", { plan: [429, 429, 200], retryAfter: "86400" });
    const busy = await webhookAtReceiver("tnt_storage_busy");
    const config = { retentionDays: 3 };
    const clock = { now: t0 };
    const retrying = await seedDelivery(patient.id, "tnt_storage_patient", t0);
    expect(await attemptDelivery(deliveryDeps(clock), retrying)).toMatchObject({
      status: "retrying",
      retryInSeconds: 86_400,
    });
    const payload = (await storedPayloads((await deliveryRow(retrying))!.event_id))[0]!;

    // Every hour, a delivery of the busy webhook, delivered at once; every three hours, the storage cron.
    const busyDeliveries = [];
    for (let h = 0; h <= 56; h++) {
      clock.now = t0 + h * HOUR;
      const ref = await seedDelivery(busy.id, "tnt_storage_busy", clock.now);
      expect(await attemptDelivery(deliveryDeps(clock), ref)).toMatchObject({ status: "success" });
      busyDeliveries.push(ref);
      if (h === 24 || h === 48) {
        // The retry comes due: 429 again (another day), then 200.
        expect(await attemptDelivery(deliveryDeps(clock), retrying)).toMatchObject({
          status: h === 24 ? "retrying" : "success",
        });
      }
      if (h % 3 !== 0) continue;
      await storageRun(clock.now, config);
      // Every hour that left the window is sealed: the retrying delivery holds back neither its own nor any other.
      const live = await listPartitionHours(env.DB);
      expect(live[0], `at +${h} h`).toBeGreaterThanOrEqual(hourOf(clock.now - 4 * HOUR - 5 * MINUTE) - 1);
      expect(live.length, `at +${h} h`).toBeLessThanOrEqual(7);
      if (h >= 6 && h < 48) {
        // It waits in the deliveries table, with its event.
        expect(await inTable("deliveries", "webhook_id", patient.id), `at +${h} h`).toBe(1);
        expect(await deliveryRow(retrying)).toMatchObject({ status: "retrying" });
        expect(await inTable("events", "tenant_id", "tnt_storage_patient")).toBe(1);
        // The busy webhook's history is archived hour by hour up to the window.
        const where = await whereStored(busy.id);
        expect(where.table).toBe(0);
        expect(where.archive).toBeGreaterThanOrEqual(h - 6);
      }
    }
    // Done at +48 h; history four hours later, so archived from the deliveries table at +54 h with its event.
    expect(await inTable("deliveries", "webhook_id", patient.id)).toBe(0);
    expect(await inTable("events", "tenant_id", "tnt_storage_patient")).toBe(0);
    expect(await whereStored(patient.id)).toEqual({ partitions: 0, table: 0, archive: 1 });
    // Its event once in the archive: archived with its hour, then only deleted from the events table.
    const eventLines = await env.DB.prepare(
      `SELECT coalesce(sum(n.value), 0) AS n FROM archive_days d, json_each(d.counts) c, json_each(c.value) n
       WHERE d.scope = 'ev:t:tnt_storage_patient'`,
    ).first<number>("n");
    expect(eventLines).toBe(1);
    expect(await archiveKeys(`events/${hourOf(t0)}/`)).toHaveLength(1);
    const detail = await api("GET", `${WEBHOOKS}/${patient.id}/deliveries/${retrying.id}`, { token: patient.token });
    expect(detail.body).toMatchObject({ status: "success", attempt_count: 3 });
    expect(detail.body.attempts.map((a) => a.status_code)).toEqual([429, 429, 200]);
    expect(JSON.stringify(detail.body.payload)).toBe(JSON.stringify(JSON.parse(payload)));
    expect(
      (await recorded(patient.hookKey)).map((r) => r.body),
      "the same bytes each time",
    ).toEqual([payload, payload, payload]);
    const listed = await api("GET", `${WEBHOOKS}/${busy.id}/deliveries?per_page=100`, { token: busy.token });
    expect(listed.body.total).toBe(57);
    expect(listed.body.items.map((d: { id: number }) => d.id)).toEqual(busyDeliveries.map((d) => d.id).reverse());

    // Retention, three days on: the archive's hours and days, and the stats, past their windows go; the rest stays.
    const later = t0 + 3 * DAY + 10 * HOUR;
    const cutoff = later - 3 * DAY;
    // Archived deliveries sent again are remembered while their originals are kept (a retry of history: a new one).
    await env.DB.prepare(
      "INSERT INTO resent_deliveries (webhook_id, delivery_id, resent_as) VALUES (?1, ?2, ?3), (?1, ?4, ?5)",
    )
      .bind(
        busy.id,
        busyDeliveries[0]!.id,
        busyDeliveries[0]!.id + 1,
        busyDeliveries[56]!.id,
        busyDeliveries[56]!.id + 1,
      )
      .run();
    expect((await statsRows(busy.id, "webhook_stats_hourly"))[0]!.hour_start).toBeLessThan(later - 48 * HOUR);
    expect((await statsRows(busy.id, "webhook_stats_daily"))[0]!.day_start).toBeLessThan(later - 2 * DAY - DAY);
    await storageRun(later, { ...config, statsRetentionDays: 2 });
    for (const kind of ["deliveries", "events"]) {
      const hours = await archivedHours(kind);
      expect(hours[0]).toBeGreaterThanOrEqual(hourOf(cutoff));
      for (const key of await archiveKeys(`${kind}/`))
        expect(Number(key.split("/")[1]), key).toBeGreaterThanOrEqual(hourOf(cutoff));
    }
    const firstDay = await env.DB.prepare("SELECT min(day) AS first FROM archive_days").first<number>("first");
    expect(firstDay).toBeGreaterThanOrEqual(Math.floor(cutoff / DAY));
    expect(await whereStored(patient.id)).toEqual({ partitions: 0, table: 0, archive: 0 });
    const kept = await api("GET", `${WEBHOOKS}/${busy.id}/deliveries?per_page=100`, { token: busy.token });
    expect(kept.body.items.map((d: { id: number }) => d.id)).toEqual(
      busyDeliveries
        .filter((d) => hourOf(d.id / 1024) >= hourOf(cutoff))
        .map((d) => d.id)
        .reverse(),
    );
    // Hourly stats past 26 hours (all of the busy webhook's: its last hour is t0 + 56 h), daily ones past
    // STATS_RETENTION_DAYS: gone; the rest kept (test/jobs/stats.test.ts keeps hours within 26 h).
    expect(await statsRows(busy.id, "webhook_stats_hourly")).toEqual([]);
    const days = await statsRows(busy.id, "webhook_stats_daily");
    expect(days[0]!.day_start).toBeGreaterThanOrEqual(later - 2 * DAY);
    expect(days.length).toBeGreaterThan(0);
    const resent = await env.DB.prepare("SELECT delivery_id FROM resent_deliveries WHERE webhook_id = ?")
      .bind(busy.id)
      .all<{ delivery_id: number }>();
    expect(resent.results).toEqual([{ delivery_id: busyDeliveries[56]!.id }]);
  }, 120_000);
});
