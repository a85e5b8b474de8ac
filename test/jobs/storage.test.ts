// The storage cron (domain/archive/storage-job.ts), on a clock the test moves: it makes this hour's and the next hour's
// partitions, seals every hour that left the hot window (its history to R2, readable through the deliveries API as
// before; what must outlive it to the deliveries table; the partition dropped), archives what outlived its partition
// once it is history, and deletes what is past RETENTION_DAYS and the stats past their windows. No delivery, however
// long it retries, holds back any of it. One run at a time; a run cut by its time box resumes where it stopped.
import { createExecutionContext, createScheduledController, waitOnExecutionContext } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { HOUR_MS, hourOf } from "../../src/db/partitions";
import { sealStep } from "../../src/domain/archive/seal";
import { runStorage } from "../../src/domain/archive/storage-job";
import { publishEvent } from "../../src/domain/publish";
import worker from "../../src/index";
import { api, WEBHOOKS, webhookAtReceiver } from "../helpers/api";
import { deliveryRow, seedDelivery, updateEventOf } from "../helpers/deliveries";
import {
  archivedHours,
  archiveKeys,
  servicesAt,
  storageAt,
  storageRun,
  storePastDeliveries,
  whereStored,
} from "../helpers/history";

const MINUTE = 60_000;
const HOUR = HOUR_MS;

const tablesNamed = async (glob: string) =>
  (
    await env.DB.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name GLOB ? ORDER BY name")
      .bind(glob)
      .all<{ name: string }>()
  ).results.map((r) => r.name);

describe("partitions", () => {
  it("makes this hour's and the next hour's, once, and the views read them", async () => {
    const now = Date.UTC(2026, 10, 30, 10, 58);
    const hour = hourOf(now);
    expect(await storageRun(now)).toMatchObject({ ran: true, hoursSealed: 0, complete: true });
    for (const table of ["deliveries", "events"])
      for (const h of [hour, hour + 1]) expect(await tablesNamed(`${table}_p${h}`)).toEqual([`${table}_p${h}`]);
    // Again: nothing more.
    const before = await tablesNamed("*_p*");
    expect(await storageRun(now)).toMatchObject({ ran: true, hoursSealed: 0 });
    expect(await tablesNamed("*_p*")).toEqual(before);
    // A publish at the turn of the hour writes into the next one, and reads find it through the view.
    const wh = await webhookAtReceiver("tnt_storage_parts");
    const [ref] = [await seedDelivery(wh.id, "tnt_storage_parts", (hour + 1) * HOUR + 1)];
    expect(
      await env.DB.prepare(`SELECT count(*) AS n FROM deliveries_p${hour + 1} WHERE webhook_id = ?`)
        .bind(wh.id)
        .first("n"),
    ).toBe(1);
    expect(await deliveryRow(ref!)).toMatchObject({ status: "pending" });
  });
});

describe("sealing an hour", () => {
  it("archives its history to R2, readable through the deliveries API as before, and drops its partitions", async () => {
    const tenant = "tnt_storage_seal";
    const wh = await webhookAtReceiver(tenant);
    const now = Date.now();
    const old = (hourOf(now) - 7) * HOUR; // an hour well past the hot window
    const stored = await storePastDeliveries([
      { webhookId: wh.id, tenantId: tenant, createdAt: old + MINUTE, status: "success", lastStatusCode: 200 },
      {
        webhookId: wh.id,
        tenantId: tenant,
        createdAt: old + 2 * MINUTE,
        status: "failed",
        eventType: "user.deleted",
        lastStatusCode: 503,
        lastErrorClass: "http_5xx",
        lastError: "http_5xx: HTTP 503",
        data: { name: "Zoë", n: 1.5e300, nested: { z: [1, "ü"], a: null } },
      },
      {
        webhookId: wh.id,
        tenantId: tenant,
        createdAt: old + 3 * MINUTE,
        status: "failed",
        lastErrorClass: "timeout",
        lastError: "timeout: no answer",
      },
      { webhookId: wh.id, tenantId: tenant, createdAt: old + HOUR + MINUTE, status: "cancelled" },
      // In the hot window: stays in its partition.
      { webhookId: wh.id, tenantId: tenant, createdAt: now - HOUR, status: "success", lastStatusCode: 200 },
    ]);
    const [, failed] = stored;
    const queries = [
      "",
      "?status=failed",
      "?event_type=user.deleted",
      "?status_code=503",
      "?error_class=timeout",
      `?event_id=${failed!.event_id}`,
      `?since=${new Date(old + 90 * 1000).toISOString()}&until=${new Date(old + HOUR).toISOString()}`,
      "?per_page=2&page=2",
    ];
    const read = async () =>
      Promise.all([
        ...queries.map(
          async (q) => (await api("GET", `${WEBHOOKS}/${wh.id}/deliveries${q}`, { token: wh.token })).body,
        ),
        ...stored.map(
          async (d) => (await api("GET", `${WEBHOOKS}/${wh.id}/deliveries/${d.id}`, { token: wh.token })).body,
        ),
      ]);
    const before = await read();
    expect(before[1]).toMatchObject({ total: 2 }); // failed
    expect(before[6]).toMatchObject({ total: 2 }); // since/until: two of the old hour

    const result = await storageAt(now);
    expect(result.hoursSealed).toBeGreaterThanOrEqual(0);
    // Its partitions are gone, each kind of its rows indexed and written to R2.
    for (const hour of [hourOf(old), hourOf(old) + 1]) {
      expect(await tablesNamed(`*_p${hour}`)).toEqual([]);
      expect(await archivedHours("deliveries")).toContain(hour);
      expect(await archivedHours("events")).toContain(hour);
      expect(await archiveKeys(`deliveries/${hour}/`)).toHaveLength(1);
      expect(await archiveKeys(`events/${hour}/`)).toHaveLength(1);
    }
    expect(await tablesNamed(`deliveries_p${hourOf(now - HOUR)}`)).toHaveLength(1);
    expect(await whereStored(wh.id)).toEqual({ partitions: 1, table: 0, archive: 4 });

    // Read back from the archive: every list, filter and detail as before, payloads included.
    expect(await read()).toEqual(before);
    // The payload, byte for byte, in the event's line of its chunk.
    const chunk = await (await env.ARCHIVE.get((await archiveKeys(`events/${hourOf(old)}/`))[0]!))!.text();
    const line = chunk
      .split("\n")
      .slice(1)
      .filter((l) => l !== "")
      .map((l) => JSON.parse(l) as { eventId: string; payload: string })
      .find((e) => e.eventId === failed!.event_id);
    expect(line!.payload).toBe(failed!.payload);
  });

  it("keeps a payload byte for byte: the detail shows its numbers as delivered, before and after sealing", async () => {
    const tenant = "tnt_storage_exact";
    const wh = await webhookAtReceiver(tenant);
    const now = Date.now();
    const old = (hourOf(now) - 15) * HOUR;
    const [delivery] = await storePastDeliveries([
      { webhookId: wh.id, tenantId: tenant, createdAt: old + MINUTE, status: "success", lastStatusCode: 200 },
    ]);
    const payload =
      '{"actor":{"id":null,"type":"system"},"data":{"10":"ten","9":"nine","big":12345678901234567890,' +
      `"e":1e+21,"f":1.0,"neg0":-0.0,"s":"caf\\u00e9"},"event_id":"${delivery!.event_id}","event_type":"user.created",` +
      `"resource":{"id":"usr_1","type":"user"},"tenant_id":"${tenant}","timestamp":"2026-01-01T00:00:00.000Z"}`;
    await updateEventOf({ webhookId: wh.id, id: delivery!.id }, { payload });
    const detailText = async () =>
      (
        await exports.default.fetch(
          new Request(`https://webhooks.test${WEBHOOKS}/${wh.id}/deliveries/${delivery!.id}`, {
            headers: { authorization: `Bearer ${wh.token}` },
          }),
        )
      ).text();
    const before = await detailText();
    expect(before).toContain(`"payload":${payload},"attempts":[`);
    await storageAt(now);
    expect(await whereStored(wh.id)).toEqual({ partitions: 0, table: 0, archive: 1 });
    expect(await detailText()).toBe(before);
  });

  it("resumes where a run cut by its time box stopped, archiving each delivery once", async () => {
    const tenant = "tnt_storage_resume";
    const wh = await webhookAtReceiver(tenant);
    const now = Date.now();
    const old = (hourOf(now) - 9) * HOUR;
    await storePastDeliveries(
      Array.from({ length: 5 }, (_, i) => ({
        webhookId: wh.id,
        tenantId: tenant,
        createdAt: old + i * MINUTE,
        status: "success" as const,
      })),
    );
    expect(await runStorage(servicesAt(now), { budgetMs: 0 })).toMatchObject({
      ran: true,
      sealSteps: 0,
      complete: false,
    });
    expect(await tablesNamed(`deliveries_p${hourOf(old)}`)).toHaveLength(1);
    // One step of the hour (its deliveries' chunk), as a run stopped after it would leave it.
    const seal = { db: servicesAt(now).db, archive: env.ARCHIVE, hotWindowMs: 4 * HOUR, now: () => now };
    expect(await sealStep(seal, hourOf(old))).toBe(false);
    expect(await archiveKeys(`deliveries/${hourOf(old)}/`)).toHaveLength(1);
    await storageAt(now);
    expect(await tablesNamed(`deliveries_p${hourOf(old)}`)).toEqual([]);
    expect(await whereStored(wh.id)).toEqual({ partitions: 0, table: 0, archive: 5 });
    const listed = await api("GET", `${WEBHOOKS}/${wh.id}/deliveries`, { token: wh.token });
    expect(listed.body.total).toBe(5);
    expect(new Set(listed.body.items.map((d: { id: number }) => d.id)).size).toBe(5);
  });

  it("without an archive bound, only drops: history ends with the hot window, what is not history moves", async () => {
    const tenant = "tnt_storage_noarchive";
    const wh = await webhookAtReceiver(tenant);
    const now = Date.now();
    const old = (hourOf(now) - 11) * HOUR;
    await storePastDeliveries([
      { webhookId: wh.id, tenantId: tenant, createdAt: old, status: "success" },
      { webhookId: wh.id, tenantId: tenant, createdAt: old + 1, status: "retrying" },
    ]);
    for (;;) if ((await runStorage({ ...servicesAt(now), archive: null })).complete) break;
    expect(await tablesNamed(`*_p${hourOf(old)}`)).toEqual([]);
    expect(await archiveKeys(`deliveries/${hourOf(old)}/`)).toEqual([]);
    expect(await archivedHours("deliveries")).not.toContain(hourOf(old));
    expect(await whereStored(wh.id)).toEqual({ partitions: 0, table: 1, archive: 0 });
  });

  it("keeps publish idempotent by event_id while the event is in the hot window, not after", async () => {
    const wh = await webhookAtReceiver("tnt_storage_idem");
    const input = {
      event_id: "evt_storage_idem_1",
      event_type: "user.created",
      tenant_id: "tnt_storage_idem",
      resource: { type: "user", id: "usr_1" },
      data: {},
    };
    const now = Date.now();
    const publishAt = (at: number) => publishEvent(servicesAt(at), input);
    expect(await publishAt(now - 13 * HOUR)).toMatchObject({ deliveries: 1, duplicate: false });
    expect(await publishAt(now - 12 * HOUR)).toMatchObject({ deliveries: 0, duplicate: true });
    await storageAt(now);
    expect(await whereStored(wh.id)).toMatchObject({ partitions: 0, table: 1 }); // never attempted: still pending
    await env.DB.prepare("UPDATE deliveries SET status = 'success', completed_at = ?1 WHERE webhook_id = ?2")
      .bind(now - 13 * HOUR, wh.id)
      .run();
    await storageAt(now);
    expect(await whereStored(wh.id)).toEqual({ partitions: 0, table: 0, archive: 1 });
    expect(await publishAt(now)).toMatchObject({ deliveries: 1, duplicate: false });
  });
});

describe("a storage run", () => {
  it("runs alone: a second run while the lease is held does nothing", async () => {
    const now = Date.now();
    const [a, b] = await Promise.all([runStorage(servicesAt(now)), runStorage(servicesAt(now))]);
    expect([a.ran, b.ran].sort()).toEqual([false, true]);
    expect(await env.DB.prepare("SELECT value FROM job_cursors WHERE name = 'storage'").first("value")).toBe(0);
    // A lease still running (a slow run), then one that has expired (a run that died).
    await env.DB.prepare("UPDATE job_cursors SET value = ? WHERE name = 'storage'")
      .bind(Date.now() + MINUTE)
      .run();
    expect(await runStorage(servicesAt(now))).toMatchObject({ ran: false });
    await env.DB.prepare("UPDATE job_cursors SET value = ? WHERE name = 'storage'")
      .bind(Date.now() - 1)
      .run();
    expect(await runStorage(servicesAt(now))).toMatchObject({ ran: true, complete: true });
  });

  it("runs from its cron through the scheduled handler", async () => {
    const ctx = createExecutionContext();
    await worker.scheduled(createScheduledController({ cron: "*/3 * * * *" }), env, ctx);
    await waitOnExecutionContext(ctx);
    expect(await tablesNamed(`deliveries_p${hourOf(Date.now())}`)).toHaveLength(1);
    expect(await env.DB.prepare("SELECT last_outcome FROM job_runs WHERE name = 'storage'").first("last_outcome")).toBe(
      "succeeded",
    );
  });
});
