import { describe, expect, it } from "vitest";
import { firstDeliveryIdAt, hourOf } from "../../../src/db/partitions";
import { isActiveDelivery } from "../../../src/db/schema";
import type { DeliveryRef } from "../../../src/domain/publish";
import { api, createWebhook, WEBHOOKS } from "../../helpers/api";
import { seedDelivery, updateDelivery } from "../../helpers/deliveries";
import { d1OfWebhook } from "../../helpers/shards";
import { partnerAdmin, superAdmin, tenantAdmin } from "../../helpers/tokens";

describe("webhook endpoints: success paths", () => {
  it("creates an endpoint and shows its secret exactly once", async () => {
    const token = await tenantAdmin("tnt_happy1", "prt_happy");
    const res = await api("POST", `${WEBHOOKS}/`, {
      token,
      body: {
        url: "https://receiver.example.com/hook",
        events: ["user.created", "group.*"],
        description: "CRM sync",
        headers: { "X-Partner-Token": "abc" },
        metadata: { team: "identity" },
      },
    });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({
      tenant_id: "tnt_happy1",
      partner_id: "prt_happy",
      url: "https://receiver.example.com/hook",
      events: ["user.created", "group.*"],
      description: "CRM sync",
      enabled: true,
      status: "active",
      failure_count: 0,
      disabled_at: null,
      headers: { "X-Partner-Token": "abc" },
      metadata: { team: "identity" },
    });
    expect(res.body.id).toMatch(/^wh_[A-Za-z0-9]{20}$/);
    expect(res.body.secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    expect(atob(res.body.secret.slice("whsec_".length))).toHaveLength(32);
    expect(new Date(res.body.created_at).toISOString()).toBe(res.body.created_at);

    const got = await api("GET", `${WEBHOOKS}/${res.body.id}`, { token });
    expect(got.status).toBe(200);
    expect(got.body).not.toHaveProperty("secret");
    const { secret: _secret, ...withoutSecret } = res.body;
    expect(got.body).toEqual(withoutSecret);
  });

  it("generates a distinct secret per endpoint", async () => {
    const token = await tenantAdmin("tnt_happy2");
    const a = await createWebhook(token);
    const b = await createWebhook(token);
    expect(a.secret).not.toBe(b.secret);
    expect(a.id).not.toBe(b.id);
  });

  it("redirects the collection path without its trailing slash, keeping the method (307)", async () => {
    const res = await api("POST", WEBHOOKS, { token: await superAdmin(), body: {} });
    expect(res.status).toBe(307);
    // on PUBLIC_ORIGIN (vitest.config.ts), never built from the Host header
    expect(res.headers.get("location")).toBe(`https://webhooks.test${WEBHOOKS}/`);
  });

  it("lists newest first with pagination", async () => {
    const token = await tenantAdmin("tnt_list");
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await createWebhook(token, { description: `n${i}` })).id);

    const page1 = await api("GET", `${WEBHOOKS}/?per_page=2`, { token });
    expect(page1.status).toBe(200);
    expect(page1.body).toMatchObject({ total: 5, page: 1, per_page: 2, pages: 3 });
    const page2 = await api("GET", `${WEBHOOKS}/?per_page=2&page=2`, { token });
    const page3 = await api("GET", `${WEBHOOKS}/?per_page=2&page=3`, { token });
    const listed = [...page1.body.items, ...page2.body.items, ...page3.body.items].map((w: { id: string }) => w.id);
    // Same-millisecond creations tie on created_at; the id breaks the tie, so the order is stable across pages.
    expect(new Set(listed)).toEqual(new Set(ids));
    expect(listed).toHaveLength(5);
    const again = await api("GET", `${WEBHOOKS}/?per_page=5`, { token });
    expect(again.body.items.map((w: { id: string }) => w.id)).toEqual(listed);
    const createdAt = again.body.items.map((w: { created_at: string }) => w.created_at);
    expect([...createdAt].sort().reverse()).toEqual(createdAt);

    const beyond = await api("GET", `${WEBHOOKS}/?page=9`, { token });
    expect(beyond.body).toMatchObject({ items: [], total: 5, page: 9, per_page: 20, pages: 1 });
  });

  it("filters by tenant and partner for cross-tenant callers", async () => {
    await createWebhook(await tenantAdmin("tnt_fa", "prt_filter"));
    await createWebhook(await tenantAdmin("tnt_fb", "prt_filter"));
    await createWebhook(await tenantAdmin("tnt_fc", "prt_other_filter"));
    const admin = await superAdmin();
    const byPartner = await api("GET", `${WEBHOOKS}/?partner_id=prt_filter`, { token: admin });
    expect(byPartner.body.total).toBe(2);
    const byTenant = await api("GET", `${WEBHOOKS}/?tenant_id=tnt_fc`, { token: admin });
    expect(byTenant.body.items.map((w) => w.tenant_id)).toEqual(["tnt_fc"]);
    const partner = await api("GET", `${WEBHOOKS}/?tenant_id=tnt_fb`, { token: await partnerAdmin("prt_filter") });
    expect(partner.body.total).toBe(1);
  });

  it("updates fields partially", async () => {
    const token = await tenantAdmin("tnt_patch");
    const created = await createWebhook(token, { metadata: { a: 1 } });
    const res = await api("PATCH", `${WEBHOOKS}/${created.id}`, {
      token,
      body: { url: "https://other.example.com/x", events: ["*"], description: null },
    });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      url: "https://other.example.com/x",
      events: ["*"],
      description: null,
      metadata: { a: 1 },
    });
    expect(res.body.updated_at >= created.updated_at).toBe(true);
    const noop = await api("PATCH", `${WEBHOOKS}/${created.id}`, { token, body: {} });
    expect(noop.status).toBe(200);
    expect(noop.body.url).toBe("https://other.example.com/x");
  });

  // FastAPI's default models ignore fields they do not have: a client may send back what it read, edited.
  it.each([
    ["a tenant admin", () => tenantAdmin("tnt_roundtrip", "prt_roundtrip")],
    ["a partner admin", () => partnerAdmin("prt_roundtrip")],
  ])("takes back, edited, what a GET answered (and the secret the create answered), as %s", async (_who, as) => {
    const created = await createWebhook(await tenantAdmin("tnt_roundtrip", "prt_roundtrip"), {
      headers: { "X-Team": "identity" },
      metadata: { cost_centre: 42 },
    });
    const token = await as();
    const read = await api("GET", `${WEBHOOKS}/${created.id}`, { token });
    const sentBack = { ...read.body, secret: created.secret, description: "edited", enabled: "false" };
    const res = await api("PATCH", `${WEBHOOKS}/${created.id}`, { token, body: sentBack });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    // What disabling changes aside, the webhook is the one that was read, with the edits.
    const { disabled_at: _at, disabled_reason: _reason, updated_at: _updated, ...unchanged } = read.body;
    expect(res.body).toMatchObject({ ...unchanged, description: "edited", enabled: false, status: "disabled" });
    expect(res.body).not.toHaveProperty("secret");
  });

  it("disabling records disabled_at; re-enabling clears failure_count and disabled_at", async () => {
    const token = await tenantAdmin("tnt_reenable");
    const created = await createWebhook(token);
    const disabled = await api("PATCH", `${WEBHOOKS}/${created.id}`, { token, body: { enabled: false } });
    expect(disabled.body).toMatchObject({ enabled: false, status: "disabled", disabled_reason: "manual" });
    expect(disabled.body.disabled_at).not.toBeNull();

    // As the delivery engine leaves it after too many failures:
    await d1OfWebhook(created.id)
      .prepare("UPDATE webhook_endpoints SET failure_count = 10, disabled_reason = 'consecutive_failures' WHERE id = ?")
      .bind(created.id)
      .run();
    const auto = await api("GET", `${WEBHOOKS}/${created.id}`, { token });
    expect(auto.body).toMatchObject({ status: "auto_disabled", failure_count: 10 });

    const enabled = await api("PATCH", `${WEBHOOKS}/${created.id}`, { token, body: { enabled: true } });
    expect(enabled.body).toMatchObject({
      enabled: true,
      status: "active",
      failure_count: 0,
      disabled_at: null,
      disabled_reason: null,
    });
  });

  it("deletes with 204, then answers 404 and leaves it out of lists", async () => {
    const token = await tenantAdmin("tnt_delete");
    const created = await createWebhook(token);
    const del = await api("DELETE", `${WEBHOOKS}/${created.id}`, { token });
    expect(del.status).toBe(204);
    expect(del.body).toBeNull();
    expect((await api("GET", `${WEBHOOKS}/${created.id}`, { token })).status).toBe(404);
    expect((await api("DELETE", `${WEBHOOKS}/${created.id}`, { token })).status).toBe(404);
    expect((await api("GET", `${WEBHOOKS}/`, { token })).body.total).toBe(0);
  });

  it("cancels pending and retrying deliveries when the endpoint is deleted, wherever they are stored", async () => {
    const token = await tenantAdmin("tnt_delete_pending");
    const created = await createWebhook(token);
    const now = Date.now();
    // One delivery per status in this hour's partition, and a retrying one that outlived its (sealed) partition in the
    // deliveries table.
    const byStatus: Record<string, DeliveryRef> = {};
    for (const [i, status] of (["pending", "retrying", "success", "failed"] as const).entries()) {
      byStatus[status] = await seedDelivery(created.id, "tnt_delete_pending", now + i);
      await updateDelivery(byStatus[status]!, {
        status,
        completed_at: isActiveDelivery(status) ? null : now,
      });
    }
    const movedId = firstDeliveryIdAt(now - 5 * 3_600_000);
    await d1OfWebhook(created.id)
      .prepare(
        `INSERT INTO deliveries (webhook_id, id, event_owner, event_id, event_hour, event_type, status, attempt_count, due_at,
         in_queue, attempts, created_at, updated_at)
       VALUES (?1, ?2, 't:tnt_delete_pending', 'evt_moved', ?3, 'user.created', 'retrying', 3, ?4, 0, '[]', ?5, ?5)`,
      )
      .bind(created.id, movedId, hourOf(now) - 5, now + 3_600_000, now - 5 * 3_600_000)
      .run();
    expect((await api("DELETE", `${WEBHOOKS}/${created.id}`, { token })).status).toBe(204);
    const status = async (id: number) =>
      await d1OfWebhook(created.id)
        .prepare("SELECT status, last_error, completed_at FROM deliveries_live WHERE webhook_id = ? AND id = ?")
        .bind(created.id, id)
        .first();
    const cancelled = { status: "cancelled", last_error: "endpoint deleted", completed_at: expect.any(Number) };
    expect(await status(byStatus.pending!.id)).toEqual(cancelled);
    expect(await status(byStatus.retrying!.id)).toEqual(cancelled);
    expect(await status(movedId)).toEqual(cancelled);
    expect(await status(byStatus.success!.id)).toMatchObject({ status: "success", last_error: null });
    expect(await status(byStatus.failed!.id)).toMatchObject({ status: "failed", last_error: null });
  });

  it("lists the supported event types with group and description", async () => {
    const res = await api("GET", `${WEBHOOKS}/events`, { token: await tenantAdmin("tnt_events", null, "admin:read") });
    expect(res.status).toBe(200);
    const types = res.body.events.map((e: { type: string }) => e.type);
    for (const t of [
      "partner.created",
      "tenant.deleted",
      "user.password_changed",
      "user.mfa_disabled",
      "group.member_removed",
      "application.user_unassigned",
      "session.revoked",
      "registration.approved",
      "authentication.locked_out",
      "webhook.test",
      "webhook.auto_disabled",
    ])
      expect(types).toContain(t);
    expect(res.body.total).toBe(types.length);
    for (const e of res.body.events) {
      expect(e.type.startsWith(`${e.group}.`)).toBe(true);
      expect(e.description.length).toBeGreaterThan(5);
    }
  });

  it("serves an OpenAPI 3.1 document and the interactive docs without a token", async () => {
    const doc = await api("GET", "/openapi.json");
    expect(doc.status).toBe(200);
    expect(doc.body.openapi).toBe("3.1.0");
    expect(doc.body.components.securitySchemes.bearerAuth).toMatchObject({ type: "http", scheme: "bearer" });
    const docs = await api("GET", "/docs");
    expect(docs.status).toBe(200);
    expect(String(docs.body)).toContain("/openapi.json");
  });
});
