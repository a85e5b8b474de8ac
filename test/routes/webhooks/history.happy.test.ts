// History (deliveries finished more than HOT_WINDOW_HOURS ago, sealed into the archive) through the API: it never
// changes, so a retry or a recover of it sends its event again as a new delivery whose retry_of names it (once: a
// second retry is a 409 naming the first), and a replay finds archived events the webhook never got. What is sent is
// the archived event's exact bytes.
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { HOUR_MS, hourOf } from "../../../src/db/partitions";
import { CANCELLED_ENDPOINT_DISABLED } from "../../../src/domain/delivery/claim";
import { continueRecoveries } from "../../../src/domain/recovery";
import { createServices } from "../../../src/lib/services";
import { api, WEBHOOKS, webhookAtReceiver } from "../../helpers/api";
import { deliveryRow, waitFor } from "../../helpers/deliveries";
import { type StoredDelivery, storageAt, storePastDeliveries, whereStored } from "../../helpers/history";
import { recorded } from "../../helpers/receiver";

const MINUTE = 60_000;
const TENANT = "tnt_history";

let hook: Awaited<ReturnType<typeof webhookAtReceiver>>;
let other: Awaited<ReturnType<typeof webhookAtReceiver>>;
let purged: StoredDelivery;
let failed: StoredDelivery[];
let cancelledDisabled: StoredDelivery;
let cancelledOther: StoredDelivery;
let succeeded: StoredDelivery;
let old: number;

beforeAll(async () => {
  hook = await webhookAtReceiver(TENANT);
  const now = Date.now();
  old = (hourOf(now) - 8) * HOUR_MS; // two hours of history, well past the hot window
  const past = (minutes: number, status: StoredDelivery["status"], extra = {}) => ({
    webhookId: hook.id,
    tenantId: TENANT,
    createdAt: old + minutes * MINUTE,
    status,
    ...extra,
  });
  const stored = await storePastDeliveries([
    past(1, "failed", { lastStatusCode: 500, lastErrorClass: "http_5xx", data: { n: 1, name: "Zoë" } }),
    past(2, "failed", { lastErrorClass: "timeout" }),
    past(70, "failed", { lastStatusCode: 503, lastErrorClass: "http_5xx" }),
    past(71, "cancelled", { lastError: CANCELLED_ENDPOINT_DISABLED }),
    past(72, "cancelled", { lastError: "endpoint deleted" }),
    past(73, "success", { lastStatusCode: 200 }),
  ]);
  failed = stored.slice(0, 3);
  [cancelledDisabled, cancelledOther, succeeded] = stored.slice(3) as [StoredDelivery, StoredDelivery, StoredDelivery];
  // Another tenant's failed delivery, an hour earlier: its payload will be removed.
  other = await webhookAtReceiver("tnt_history_other");
  purged = (
    await storePastDeliveries([
      { webhookId: other.id, tenantId: "tnt_history_other", createdAt: old - HOUR_MS + MINUTE, status: "failed" },
    ])
  )[0]!;
  await storageAt(now);
  expect(await whereStored(hook.id)).toEqual({ partitions: 0, table: 0, archive: 6 });
  expect(await whereStored(other.id)).toEqual({ partitions: 0, table: 0, archive: 1 });
});

const retry = (id: number) => api("POST", `${WEBHOOKS}/${hook.id}/deliveries/${id}/retry`, { token: hook.token });
const detail = (id: number) => api("GET", `${WEBHOOKS}/${hook.id}/deliveries/${id}`, { token: hook.token });
/** What the receiver got for `eventId`, once it has it `n` times. */
const receivedFor = (eventId: string, n = 1) =>
  waitFor(async () => {
    const got = (await recorded(hook.hookKey)).filter((r) => r.headers["x-scaikey-event-id"] === eventId);
    return got.length >= n && got;
  });

describe("history", () => {
  it("is retried as a new delivery whose retry_of names it, sending the archived bytes; once", async () => {
    const original = failed[0]!;
    const before = await detail(original.id);
    expect(before.body).toMatchObject({ id: original.id, status: "failed", retry_of: null });

    const res = await retry(original.id);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ status: "pending", retry_of: original.id, event_id: original.event_id });
    expect(res.body.id).toBeGreaterThan(original.id);
    const [sent] = await receivedFor(original.event_id);
    expect(sent!.body).toBe(original.payload);
    expect(sent!.headers["x-scaikey-webhook-id"]).toBe(String(res.body.id));
    await waitFor(async () => (await deliveryRow({ webhookId: hook.id, id: res.body.id }))?.status === "success");
    // The new one is listed (newest first) and readable; the original, history, is as it was.
    const list = await api("GET", `${WEBHOOKS}/${hook.id}/deliveries`, { token: hook.token });
    expect(list.body.items[0]).toMatchObject({ id: res.body.id, status: "success", retry_of: original.id });
    expect(list.body.total).toBe(7);
    expect((await detail(res.body.id)).body.payload).toEqual(before.body.payload);
    expect((await detail(original.id)).body).toEqual(before.body);

    // A second retry of the same history names the first.
    const again = await retry(original.id);
    expect(again.status).toBe(409);
    expect(again.body.detail).toBe(`Delivery was already sent again, as delivery ${res.body.id}`);
    expect((await retry(res.body.id)).body.detail).toBe("Delivery already succeeded");
    expect((await retry(succeeded.id)).body.detail).toBe("Delivery already succeeded");
    expect(await receivedFor(original.event_id)).toHaveLength(1);
  });

  it("whose payload retention has removed cannot be sent again", async () => {
    const original = purged;
    // The hour's event chunks gone (retention deletes a day's objects before their rows).
    const { results } = await env.DB.prepare("SELECT chunks FROM archive_hours WHERE kind = 'events' AND hour = ?")
      .bind(hourOf(original.created_at))
      .all<{ chunks: string }>();
    for (const ref of Object.keys(JSON.parse(results[0]!.chunks)))
      await env.ARCHIVE.delete(`events/${hourOf(original.created_at)}/${ref}.ndjson`);
    const res = await api("POST", `${WEBHOOKS}/${other.id}/deliveries/${original.id}/retry`, { token: other.token });
    expect(res.status).toBe(409);
    expect(res.body.detail).toBe("The event's payload has been removed by retention; it cannot be sent again");
    const shown = await api("GET", `${WEBHOOKS}/${other.id}/deliveries/${original.id}`, { token: other.token });
    expect(shown.body).toMatchObject({ status: "failed", payload: null });
  });

  it("is recovered as new deliveries, each once: the failed and those cancelled while disabled", async () => {
    const since = new Date(old).toISOString();
    const res = await api("POST", `${WEBHOOKS}/${hook.id}/recover`, { token: hook.token, body: { since } });
    expect(res.status).toBe(202);
    // failed[0] was sent again already.
    expect(res.body.deliveries).toBe(3);
    // The request does the window's first hour; the every-minute cron the rest.
    expect(await continueRecoveries(createServices(env))).toMatchObject({ open: 0 });
    for (const d of [failed[1]!, failed[2]!, cancelledDisabled]) {
      const [sent] = await receivedFor(d.event_id);
      expect(sent!.body).toBe(d.payload);
    }
    const { results } = await env.DB.prepare(
      "SELECT retry_of FROM deliveries_live WHERE webhook_id = ? AND retry_of IS NOT NULL ORDER BY retry_of",
    )
      .bind(hook.id)
      .all<{ retry_of: number }>();
    expect(results.map((r) => r.retry_of)).toEqual([failed[0]!.id, failed[1]!.id, failed[2]!.id, cancelledDisabled.id]);
    const again = await api("POST", `${WEBHOOKS}/${hook.id}/recover`, { token: hook.token, body: { since } });
    expect(again.body.deliveries).toBe(0);
    expect(await continueRecoveries(createServices(env))).toMatchObject({ open: 0 });
    await new Promise((r) => setTimeout(r, 500));
    expect(await recorded(hook.hookKey)).toHaveLength(4);
    expect((await recorded(hook.hookKey)).map((r) => r.headers["x-scaikey-event-id"])).not.toContain(
      cancelledOther.event_id,
    );
  });

  it("is replayed to a webhook that never got its events, from the archive, each event once", async () => {
    const late = await webhookAtReceiver(TENANT);
    const since = new Date(old).toISOString();
    const res = await api("POST", `${WEBHOOKS}/${late.id}/replay`, { token: late.token, body: { since } });
    expect(res.status).toBe(202);
    // Six archived events, none of them sent to this webhook yet (four also stored again, by the retry and the
    // recover, in the hot window's partition: one event each all the same).
    expect(res.body.deliveries).toBe(6);
    expect(await continueRecoveries(createServices(env))).toMatchObject({ open: 0 });
    const got = await waitFor(async () => {
      const r = await recorded(late.hookKey);
      return r.length >= 6 && r;
    });
    await new Promise((r) => setTimeout(r, 500));
    expect((await recorded(late.hookKey)).map((r) => r.headers["x-scaikey-event-id"]).sort()).toEqual(
      [...failed, cancelledDisabled, cancelledOther, succeeded].map((d) => d.event_id).sort(),
    );
    for (const r of got)
      expect(r.body).toBe(
        [...failed, cancelledDisabled, cancelledOther, succeeded].find(
          (d) => d.event_id === r.headers["x-scaikey-event-id"],
        )!.payload,
      );
    expect(
      (await api("POST", `${WEBHOOKS}/${late.id}/replay`, { token: late.token, body: { since } })).body.deliveries,
    ).toBe(0);
  });
});
