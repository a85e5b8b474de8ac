// Migration 0007 (event keys per owner) over rows written before it: every event gets its owner-qualified key, every
// delivery follows its event, and the old events keep working: sent with their event_id, a duplicate when their owner
// publishes them again, found by the deliveries filter and by replay.
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import migration from "../../migrations/0008_event_keys_per_owner.sql?raw";
import { attemptDelivery } from "../../src/domain/delivery/attempt";
import { completeEnvelope } from "../../src/domain/publish";
import { canonicalJson } from "../../src/lib/canonical-json";
import { api, createWebhook, WEBHOOKS, webhookAtReceiver } from "../helpers/api";
import { deliveryDeps, waitFor } from "../helpers/deliveries";
import { hookUrl, recorded } from "../helpers/receiver";
import { partnerAdmin, publisher, superAdmin } from "../helpers/tokens";

const uid = () => crypto.randomUUID().replaceAll("-", "").slice(0, 10);
const statements = migration
  .split("--> statement-breakpoint")
  .map((s) => s.replace(/^\s*--.*$/gm, "").trim())
  .filter(Boolean);
const runMigration = () => env.DB.batch(statements.map((s) => env.DB.prepare(s)));

/** An event and a pending delivery of it, as the code before 0007 stored them: the bare event_id as the key. */
async function legacyEvent(webhookId: string, owner: { tenant_id?: string; partner_id?: string }, createdAt: number) {
  const envelope = completeEnvelope(
    { event_type: "user.created", ...owner, resource: { type: "user", id: "usr_old" }, data: { old: true } },
    createdAt,
  );
  const [, delivery] = await env.DB.batch<{ id: number }>([
    env.DB.prepare(
      "INSERT INTO events (id, event_type, tenant_id, partner_id, payload, created_at) VALUES (?, ?, ?, ?, ?, ?)",
    ).bind(
      envelope.event_id,
      envelope.event_type,
      owner.tenant_id ?? null,
      owner.partner_id ?? null,
      canonicalJson(envelope),
      createdAt,
    ),
    env.DB.prepare(
      `INSERT INTO deliveries (webhook_id, event_id, event_type, status, attempt_count, next_attempt_at, in_queue, created_at, updated_at)
       VALUES (?, ?, ?, 'pending', 0, ?, 0, ?, ?) RETURNING id`,
    ).bind(webhookId, envelope.event_id, envelope.event_type, createdAt, createdAt, createdAt),
  ]);
  return { eventId: envelope.event_id, deliveryId: delivery!.results[0]!.id };
}

describe("migration 0007: event keys per owner", () => {
  it("rewrites old keys to their owner's, leaves new ones alone, and the old events keep working", async () => {
    const u = uid();
    const [tenant, partner] = [`tnt_mig${u}`, "prt_engine"];
    const tenantHook = await webhookAtReceiver(tenant); // prt_engine, per the token that teaches the directory
    const partnerLevel = await createWebhook(await partnerAdmin(`prt_mig${u}`), { url: hookUrl().url, events: ["*"] });
    const now = Date.now();
    const oldTenant = await legacyEvent(tenantHook.id, { tenant_id: tenant, partner_id: partner }, now - 60_000);
    const oldPartner = await legacyEvent(partnerLevel.id, { partner_id: `prt_mig${u}` }, now - 60_000);
    // Published by the current code (already keyed) before the migration runs over the database again.
    const fresh = await api("POST", "/api/v1/events", {
      token: await superAdmin(),
      body: { event_type: "user.updated", tenant_id: tenant, resource: { type: "user", id: "u" }, data: {} },
    });
    const keysBefore = await env.DB.prepare("SELECT id FROM events WHERE tenant_id = ? ORDER BY id").bind(tenant).all();

    await runMigration();

    const { results: events } = await env.DB.prepare(
      "SELECT id FROM events WHERE tenant_id = ?1 OR partner_id = ?2 ORDER BY id",
    )
      .bind(tenant, `prt_mig${u}`)
      .all<{ id: string }>();
    expect(events.map((e) => e.id).sort()).toEqual(
      [
        `${oldTenant.eventId}:t:${tenant}`,
        `${oldPartner.eventId}:p:prt_mig${u}`,
        `${fresh.body.event_id}:t:${tenant}`,
      ].sort(),
    );
    expect(keysBefore.results.map((r) => r.id)).toContain(`${fresh.body.event_id}:t:${tenant}`);
    const deliveryKeys = await env.DB.prepare("SELECT id, event_id FROM deliveries WHERE id IN (?, ?) ORDER BY id")
      .bind(oldTenant.deliveryId, oldPartner.deliveryId)
      .all<{ id: number; event_id: string }>();
    expect(deliveryKeys.results.map((d) => d.event_id)).toEqual([
      `${oldTenant.eventId}:t:${tenant}`,
      `${oldPartner.eventId}:p:prt_mig${u}`,
    ]);
    expect((await env.DB.prepare("PRAGMA foreign_key_check").all()).results).toEqual([]);
    // Running it again changes nothing.
    const [deliveriesAgain, eventsAgain] = await runMigration().then((r) => r.slice(1));
    expect([deliveriesAgain!.meta.changes, eventsAgain!.meta.changes]).toEqual([0, 0]);

    // The API shows the event_id, with the payload.
    const detail = await api("GET", `${WEBHOOKS}/${tenantHook.id}/deliveries/${oldTenant.deliveryId}`, {
      token: tenantHook.token,
    });
    expect(detail.body).toMatchObject({ event_id: oldTenant.eventId, payload: { event_id: oldTenant.eventId } });
    const filtered = await api("GET", `${WEBHOOKS}/${tenantHook.id}/deliveries?event_id=${oldTenant.eventId}`, {
      token: tenantHook.token,
    });
    expect(filtered.body.items.map((d: { id: number }) => d.id)).toEqual([oldTenant.deliveryId]);

    // It is sent with its event_id in both header schemes.
    await attemptDelivery(deliveryDeps({ now: Date.now() }), oldTenant.deliveryId);
    await waitFor(async () => (await recorded(tenantHook.hookKey)).length > 0);
    const [sent] = await recorded(tenantHook.hookKey);
    expect(sent!.headers["x-scaikey-event-id"]).toBe(oldTenant.eventId);
    expect(sent!.headers["webhook-id"]).toBe(oldTenant.eventId);
    expect(JSON.parse(sent!.body)).toMatchObject({ event_id: oldTenant.eventId, data: { old: true } });

    // Its owner publishing it again is a duplicate; another tenant's use of the id is its own event.
    const again = (token: string, t: string) =>
      api("POST", "/api/v1/events", {
        token,
        body: {
          event_id: oldTenant.eventId,
          event_type: "user.created",
          tenant_id: t,
          resource: { type: "user", id: "usr_old" },
          data: {},
        },
      });
    expect((await again(await publisher(tenant, partner), tenant)).body).toEqual({
      event_id: oldTenant.eventId,
      deliveries: 0,
      duplicate: true,
    });
    expect((await again(await superAdmin(), `tnt_other${u}`)).body).toMatchObject({ duplicate: false });

    // A webhook created after it gets it by replay, keyed as fan-out would have.
    const late = await webhookAtReceiver(tenant);
    const replayed = await api("POST", `${WEBHOOKS}/${late.id}/replay`, {
      token: late.token,
      body: { since: new Date(now - 120_000).toISOString(), event_types: ["user.created"] },
    });
    expect(replayed.body).toMatchObject({ deliveries: 1 });
    const lateDelivery = await env.DB.prepare("SELECT event_id FROM deliveries WHERE webhook_id = ?")
      .bind(late.id)
      .first<{ event_id: string }>();
    expect(lateDelivery!.event_id).toBe(`${oldTenant.eventId}:t:${tenant}`);
  });
});
