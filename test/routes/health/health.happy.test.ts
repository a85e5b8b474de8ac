// GET /health, request ids, and what the logs may (not) contain.
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { createApp } from "../../../src/app";
import { createDb } from "../../../src/db/client";
import { attemptDelivery } from "../../../src/domain/delivery/attempt";
import { createServices } from "../../../src/lib/services";
import { api, createWebhook, WEBHOOKS } from "../../helpers/api";
import { deliveryDeps, seedDelivery, updateEventOf } from "../../helpers/deliveries";
import { hookUrl } from "../../helpers/receiver";
import { shardD1s } from "../../helpers/shards";
import { tenantAdmin } from "../../helpers/tokens";

/** The app with a D1 binding replaced by `d1`, called like the Worker's fetch handler. */
async function callWithD1(d1: D1Database, path: string) {
  const app = createApp((e) => ({ ...createServices(e), db: createDb(d1) }));
  const ctx = createExecutionContext();
  const res = await app.fetch(new Request(`https://webhooks.test${path}`), env, ctx);
  await waitOnExecutionContext(ctx);
  return res;
}

const d1Where = (prepare: () => unknown) =>
  new Proxy(env.DB, {
    get(target, prop) {
      if (prop === "prepare") return prepare;
      if (prop === "batch" || prop === "exec")
        return () => Promise.reject(new Error("D1_ERROR: database is unavailable"));
      return Reflect.get(target, prop);
    },
  });

describe("GET /health", () => {
  it("answers 200 without a token when D1 answers", async () => {
    const res = await api("GET", "/health");
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      status: "ok",
      d1: "ok",
      delivery: "ok",
      queue: "ok",
      lag_seconds: 0,
      cron: "ok",
      jwks: "not_configured", // the tests verify HS256 tokens
      shards: shardD1s().map((_, shard) => ({ shard, d1: "ok", delivery: "ok", queue: "ok", lag_seconds: 0 })),
    });
    expect(res.headers.get("cache-control")).toBe("no-store");
  });

  it("answers 503 when D1 fails, and names the shard", async () => {
    const failing = d1Where(() => {
      throw new Error("D1_ERROR: database is unavailable");
    });
    const res = await callWithD1(failing, "/health");
    expect(res.status).toBe(503);
    expect(await res.json()).toEqual({
      status: "error",
      d1: "error",
      delivery: "unknown",
      queue: "unknown",
      lag_seconds: null,
      cron: "unknown",
      jwks: "not_configured",
      // Shard 0's D1 fails (the job runs are recorded there: cron is unknown too); every other shard answers.
      shards: shardD1s().map((_, shard) =>
        shard === 0
          ? { shard, d1: "error", delivery: "unknown", queue: "unknown", lag_seconds: null }
          : { shard, d1: "ok", delivery: "ok", queue: "ok", lag_seconds: 0 },
      ),
    });
  });

  it("answers 503 when a D1 query rejects", async () => {
    const rejecting = d1Where(() => ({
      bind: () => rejecting,
      first: () => Promise.reject(new Error("D1_ERROR: overloaded")),
    }));
    expect((await callWithD1(rejecting, "/health")).status).toBe(503);
  });

  it("answers 503 quickly when D1 hangs", async () => {
    const hanging = new Proxy(env.DB, {
      get: (target, prop) => (prop === "batch" ? () => new Promise(() => {}) : Reflect.get(target, prop)),
    });
    const started = Date.now();
    const res = await callWithD1(hanging, "/health");
    expect(res.status).toBe(503);
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it("is in the OpenAPI document, without security", async () => {
    const doc = await api("GET", "/openapi.json");
    expect(doc.body.paths["/health"].get).toMatchObject({ operationId: "getHealth", security: [] });
  });
});

describe("request ids", () => {
  it("echoes a valid incoming X-Request-ID", async () => {
    for (const id of ["req-123", "0196d950-4f80-4ec9-b676-c2ecd2e2c140", "a.b:c_d", "x".repeat(128)]) {
      const res = await api("GET", "/health", { headers: { "X-Request-ID": id } });
      expect(res.headers.get("x-request-id")).toBe(id);
    }
  });

  it("replaces an invalid one, and sets one when none is sent, on errors too", async () => {
    for (const id of ["has space", "x".repeat(129), "<script>", "semi;colon", "a/b"]) {
      const res = await api("GET", "/health", { headers: { "X-Request-ID": id } });
      const echoed = res.headers.get("x-request-id");
      expect(echoed).not.toBe(id);
      expect(echoed).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    }
    const unauthenticated = await api("GET", `${WEBHOOKS}/`);
    expect(unauthenticated.status).toBe(401);
    expect(unauthenticated.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
    const a = await api("GET", "/nope");
    const b = await api("GET", "/nope");
    expect(a.status).toBe(404);
    expect(a.headers.get("x-request-id")).not.toBe(b.headers.get("x-request-id"));
  });
});

describe("logs", () => {
  afterEach(() => vi.restoreAllMocks());

  it("are one JSON line per request and per attempt, with ids and outcomes but no token, secret or payload", async () => {
    const lines: string[] = [];
    for (const method of ["log", "warn", "error", "info", "debug"] as const) {
      vi.spyOn(console, method).mockImplementation((...args: unknown[]) => void lines.push(args.map(String).join(" ")));
    }
    const tenant = "tnt_logs";
    const token = await tenantAdmin(tenant);
    const marker = "PAYLOAD-MARKER-7f3a";
    const hook = hookUrl({ plan: [500], body: `RESPONSE-MARKER-${marker}` });
    const wh = await createWebhook(token, {
      url: hook.url,
      events: ["*"],
      headers: { "X-Partner-Token": "HEADER-SECRET-91c2" },
    });
    const rotated = await api("POST", `${WEBHOOKS}/${wh.id}/rotate-secret`, {
      token,
      headers: { "X-Request-ID": "req-logs-1" },
    });
    const id = await seedDelivery(wh.id, tenant, Date.now(), "user.created");
    await updateEventOf(id, { payload: JSON.stringify({ data: { secret_note: marker } }) });
    await attemptDelivery(deliveryDeps({ now: Date.now() }), id);
    await api("GET", `${WEBHOOKS}/${wh.id}/stats`, { token: `${token}x` }); // a bad token is not logged either

    const parsed = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    const requests = parsed.filter((l) => l.msg === "request");
    expect(requests.length).toBeGreaterThanOrEqual(3);
    for (const r of requests)
      expect(r).toMatchObject({
        level: "info",
        request_id: expect.any(String),
        method: expect.any(String),
        status: expect.any(Number),
        duration_ms: expect.any(Number),
      });
    expect(requests.find((r) => r.request_id === "req-logs-1")).toMatchObject({
      route: "/api/v1/admin/webhooks/:webhook_id/rotate-secret",
      status: 200,
    });
    expect(parsed.filter((l) => l.msg === "delivery attempt")).toEqual([
      expect.objectContaining({
        webhook_id: wh.id,
        delivery_id: id.id,
        attempt: 1,
        outcome: "retrying",
        status_code: 500,
        error_class: "http_5xx",
      }),
    ]);

    const all = lines.join("\n");
    for (const secret of [
      token,
      wh.secret,
      rotated.body.secret,
      marker,
      "HEADER-SECRET-91c2",
      "RESPONSE-MARKER",
      "Bearer",
    ]) {
      expect(all).not.toContain(secret);
    }
  });
});
