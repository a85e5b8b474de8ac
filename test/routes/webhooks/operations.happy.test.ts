// GET /api/v1/admin/webhooks/operations: the pipeline as the platform's operators see it, read in one D1 round trip
// through indexes only.
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { createDb } from "../../../src/db/client";
import { attemptDelivery } from "../../../src/domain/delivery/attempt";
import { recordJobStart } from "../../../src/domain/job-runs";
import { readOperations } from "../../../src/domain/operations";
import { runScheduled } from "../../../src/jobs/scheduled";
import { api, createWebhook, WEBHOOKS } from "../../helpers/api";
import { countingD1, deliveryDeps, seedDelivery, updateDelivery } from "../../helpers/deliveries";
import { keepingQueue, queryPlansOf, queuedDeliveries, servicesAt } from "../../helpers/pipeline";
import { hookUrl } from "../../helpers/receiver";
import { platformToken, superAdmin, tenantAdmin } from "../../helpers/tokens";

const OPERATIONS = `${WEBHOOKS}/operations`;
const MINUTE = 60_000;
const TENANT = "tnt_ops";
const ids: Record<string, string> = {};

// One tenant per webhook: the announcement of an auto-disabled webhook then reaches no other webhook.
const tenants: Record<string, string> = {};
async function webhookWith(name: string, plan: number[]) {
  tenants[name] = `${TENANT}_${name}`;
  ids[name] = (
    await createWebhook(await tenantAdmin(tenants[name]), { url: hookUrl({ plan }).url, events: ["user.*"] })
  ).id;
}
const seed = (name: string, at: number) => seedDelivery(ids[name]!, tenants[name]!, at);

let now: number;
let oldestDue: number;

beforeAll(async () => {
  now = Date.now();
  const clock = { now: now - 10 * MINUTE };
  await webhookWith("ok", [200]);
  await webhookWith("flaky", [500]);
  await webhookWith("gone", [410]);
  await webhookWith("manual", [500]);
  await webhookWith("deleted", [500]);

  // Attempts: a success, a 5xx that fails its delivery (no retries left), a 410 that auto-disables.
  const once = { retryScheduleSeconds: [] };
  await attemptDelivery(deliveryDeps(clock), await seed("ok", clock.now));
  await attemptDelivery(deliveryDeps(clock, once), await seed("flaky", clock.now));
  await attemptDelivery(deliveryDeps(clock), await seed("gone", clock.now));
  // One more failure, and failures of webhooks then disabled by hand or deleted.
  clock.now += MINUTE;
  for (const name of ["flaky", "manual", "deleted"])
    await attemptDelivery(deliveryDeps(clock, once), await seed(name, clock.now));
  const tokenOf = (name: string) => tenantAdmin(tenants[name]!);
  const disable = await api("PATCH", `${WEBHOOKS}/${ids.manual}`, {
    token: await tokenOf("manual"),
    body: { enabled: false },
  });
  expect(disable.status).toBe(200);
  expect((await api("DELETE", `${WEBHOOKS}/${ids.deleted}`, { token: await tokenOf("deleted") })).status).toBe(204);

  // Active deliveries: two waiting in the queue (one due 4 minutes ago), one retry due later.
  const pending = [await seed("ok", now), await seed("ok", now)];
  await queuedDeliveries(pending, now - 4 * MINUTE);
  await queuedDeliveries(pending.slice(1), now - MINUTE);
  oldestDue = pending[0]!.id;
  const retry = await seed("ok", now);
  await updateDelivery(retry, { status: "retrying", attempt_count: 1, due_at: now + 30 * MINUTE, in_queue: 0 });

  // Cron runs: the sweep succeeded (it recorded the oldest due delivery; its probe not received yet), the storage job
  // failed, the secret re-encryption is running.
  await runScheduled("* * * * *", servicesAt({ now: now - 2 * MINUTE }, { queue: keepingQueue({ now }).queue }));
  await env.DB.prepare(
    "UPDATE job_runs SET last_finished_at = ?1, last_outcome = 'failed', last_error_class = 'd1' WHERE name = 'storage'",
  )
    .bind(now - MINUTE)
    .run();
  await recordJobStart(createDb(env.DB), "secret_reencryption", now - 5_000);

  // An open recover.
  await env.DB.prepare(
    "INSERT INTO webhook_recoveries (webhook_id, kind, since, until, cursor, requested_at) VALUES (?, 'recover', ?, ?, ?, ?)",
  )
    .bind(ids.flaky, now - 60 * MINUTE, now - MINUTE, now - 30 * MINUTE, now - 2 * MINUTE)
    .run();
});

describe("GET /api/v1/admin/webhooks/operations", () => {
  it("shows lag, counts, cron runs, recoveries, the last hour and the troubled webhooks", async () => {
    const res = await api("GET", OPERATIONS, { token: await superAdmin() });
    expect(res.status).toBe(200);
    const view = res.body;
    expect(view.delivery).toEqual({
      lag_seconds: expect.any(Number),
      lagging: false,
      max_lag_seconds: 300,
      oldest_due: {
        delivery_id: oldestDue,
        webhook_id: ids.ok,
        status: "pending",
        attempt_count: 0,
        due_at: new Date(now - 4 * MINUTE).toISOString(),
      },
      pending: 2,
      retrying: 1,
    });
    expect(view.delivery.lag_seconds).toBeGreaterThanOrEqual(240);
    expect(view.queue).toMatchObject({
      oldest_waiting_probe_at: new Date(now - 2 * MINUTE).toISOString(),
      lagging: false,
    });
    expect(view.queue.lag_seconds).toBeGreaterThanOrEqual(120);

    const job = (name: string) => view.cron_jobs.find((j: { name: string }) => j.name === name);
    expect(view.cron_jobs.map((j: { name: string }) => j.name)).toEqual([
      "retry_sweep",
      "storage",
      "secret_reencryption",
    ]);
    expect(job("retry_sweep")).toMatchObject({
      cron: "* * * * *",
      period_seconds: 60,
      last_outcome: "succeeded",
      last_error_class: null,
      last_succeeded_at: new Date(now - 2 * MINUTE).toISOString(),
      running: false,
      overdue: false,
    });
    expect(job("storage")).toMatchObject({
      last_finished_at: new Date(now - MINUTE).toISOString(),
      last_outcome: "failed",
      last_error_class: "d1",
      last_succeeded_at: null,
      running: false,
    });
    expect(job("secret_reencryption")).toMatchObject({
      last_started_at: new Date(now - 5_000).toISOString(),
      last_finished_at: null,
      running: true,
    });

    expect(view.recoveries).toEqual({
      open: 1,
      items: [
        {
          id: expect.any(Number),
          webhook_id: ids.flaky,
          kind: "recover",
          since: new Date(now - 60 * MINUTE).toISOString(),
          until: new Date(now - MINUTE).toISOString(),
          cursor: new Date(now - 30 * MINUTE).toISOString(),
          requested_at: new Date(now - 2 * MINUTE).toISOString(),
        },
      ],
    });

    // Counted as recorded: a success, a 5xx and a 410 (4xx), each ending its delivery, the second 5xx, and the manually
    // disabled webhook's (the deleted webhook's attempt went with its stats).
    expect(view.last_hour).toMatchObject({
      attempts: 5,
      successes: 1,
      deliveries_succeeded: 1,
      deliveries_failed: 4,
      failures_by_class: { timeout: 0, connection: 0, "4xx": 1, "5xx": 3, other: 0 },
    });

    expect(view.webhooks).toEqual({
      failing: 1,
      auto_disabled: 1,
      items: [
        expect.objectContaining({ id: ids.flaky, tenant_id: tenants.flaky, status: "active", failure_count: 2 }),
        expect.objectContaining({ id: ids.gone, status: "auto_disabled", disabled_reason: "gone", failure_count: 1 }),
      ],
    });
  });

  it("reads it all in one D1 round trip, through indexes only, deliveries through the open deliveries' index", async () => {
    const counted = countingD1(env.DB);
    await readOperations(createDb(counted.d1), Date.now(), 300_000);
    expect(counted.counts).toMatchObject({ batches: 1, statements: 0 });

    const plans = await queryPlansOf((d1) => readOperations(createDb(d1), Date.now(), 300_000));
    for (const { sql, plan } of plans)
      for (const step of plan) {
        // A table is read by key or through an index; a subquery's rows are scanned as they come.
        expect(step, sql).toMatch(
          /^(SEARCH \w+ USING (INTEGER PRIMARY KEY|(COVERING )?INDEX \w+) \(|SCAN \w+ USING (COVERING )?INDEX \w+_open_idx$|SCAN \(subquery-\d\)$|SCAN CONSTANT ROW$|CO-ROUTINE|SCALAR SUBQUERY|COMPOUND QUERY$|LEFT-MOST SUBQUERY$|UNION ALL$)/,
        );
        // Every deliveries table (the partitions' view) through its index of open deliveries.
        if (/\bdeliveries(_p\d+)?\b/.test(step)) expect(step, sql).toMatch(/deliveries_open_idx( \(id=\?\))?$/);
      }
  });

  it("is in the OpenAPI document, for super admins and platform tokens", async () => {
    const doc = await api("GET", "/openapi.json");
    const op = doc.body.paths[OPERATIONS].get;
    expect(op).toMatchObject({ operationId: "getWebhookOperations", tags: ["Operations"] });
    expect(op.responses["200"].content["application/json"].schema).toEqual({
      $ref: "#/components/schemas/Operations",
    });
    expect(Object.keys(op.responses).sort()).toEqual(["200", "401", "403", "500", "503"]);
    // /operations is its own route for GET; the other methods of /{webhook_id} find no webhook of that id.
    expect((await api("GET", OPERATIONS, { token: await platformToken("admin:read") })).status).toBe(200);
    for (const method of ["PATCH", "DELETE"]) {
      const res = await api(method, OPERATIONS, {
        token: await superAdmin(),
        body: method === "PATCH" ? {} : undefined,
      });
      expect(res).toMatchObject({ status: 404, body: { detail: "Webhook not found" } });
    }
  });
});
