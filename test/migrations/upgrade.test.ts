// The upgrade path of a deployed database: an empty D1 (UPGRADE_DB, vitest.config.ts) taken through the migrations up
// to 0007, given rows as the code of that time wrote them (events keyed by their bare event_id, deliveries with
// AUTOINCREMENT ids and their attempts in delivery_attempts, the stats rollup's and retention's run records), then taken
// through the rest: 0008 (event keys per owner), 0009 (the slow lane), 0010 (hourly partitions), 0011 (the portal's
// flash), 0012 (shards: every owner it holds placed in shard 0), 0013 (flow control: a webhook's rate limit, ordering
// and failure warnings). Every row arrives in the new tables as the new code reads it, and the old events keep working:
// shown, filtered, sent with their event_id, a duplicate when their owner publishes them again, another event when
// anyone else does, and replayed as fan-out would.
import { applyD1Migrations } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { createDb } from "../../src/db/client";
import { hourOf } from "../../src/db/partitions";
import { type AttemptRecord, type DeliveryStatus, isActiveDelivery } from "../../src/db/schema";
import { runStorage } from "../../src/domain/archive/storage-job";
import { attemptDelivery } from "../../src/domain/delivery/attempt";
import { createServices } from "../../src/lib/services";
import { api, WEBHOOKS } from "../helpers/api";
import { deliveryDeps, waitFor } from "../helpers/deliveries";
import { hookUrl, recorded } from "../helpers/receiver";
import { partnerAdmin, publisher, superAdmin, tenantAdmin } from "../helpers/tokens";

const db = () => env.UPGRADE_DB;
/** The app over the upgraded database. */
// The upgraded deployment, one database as it was: its only shard (no DB_1).
const onUpgraded = { bindings: { DB: env.UPGRADE_DB, DB_1: undefined } as unknown as Partial<Env> };

const uid = crypto.randomUUID().replaceAll("-", "").slice(0, 10);
const TENANT = `tnt_up${uid}`;
const PARTNER = `prt_up${uid}`;
const OTHER_TENANT = `tnt_up_other${uid}`;
const TENANT_HOOK = `wh_up_t${uid}`;
const PARTNER_HOOK = `wh_up_p${uid}`;
const HOUR = 3_600_000;
const NOW = Date.now();
const T0 = NOW - 2 * HOUR; // when the old rows were written
const hook = hookUrl();

/** An event as the code before 0008 stored it: its bare event_id as the key, its exact canonical payload. */
const event = (eventId: string, owner: { tenant_id?: string; partner_id?: string }, createdAt: number) => ({
  id: eventId,
  event_type: "user.created",
  tenant_id: owner.tenant_id ?? null,
  partner_id: owner.partner_id ?? null,
  // Numbers as the publisher sent them (1.0, a big int): the payload text is what every delivery signs.
  payload:
    `{"actor":{"id":null,"type":"system"},"data":{"big":12345678901234567890,"f":1.0,"s":"caf\\u00e9"},` +
    `"event_id":"${eventId}","event_type":"user.created","resource":{"id":"usr_old","type":"user"},` +
    `${owner.tenant_id ? `"tenant_id":"${owner.tenant_id}",` : `"partner_id":"${owner.partner_id}",`}` +
    `"timestamp":"${new Date(createdAt).toISOString()}"}`,
  created_at: createdAt,
});
const EVENTS = {
  tenant: event(`evt_up_t${uid}`, { tenant_id: TENANT, partner_id: PARTNER }, T0),
  partner: event(`evt_up_p${uid}`, { partner_id: PARTNER }, T0 + 1_000),
  later: event(`evt_up_l${uid}`, { tenant_id: TENANT, partner_id: PARTNER }, T0 + 2_000),
};

interface OldDelivery {
  id: number;
  webhook_id: string;
  event_id: string;
  status: string;
  attempt_count: number;
  next_attempt_at: number | null;
  in_queue: number;
  last_attempt_at: number | null;
  last_status_code: number | null;
  last_error_class: string | null;
  last_error: string | null;
  created_at: number;
  updated_at: number;
  completed_at: number | null;
}
interface OldAttempt {
  delivery_id: number;
  attempt_number: number;
  started_at: number;
  duration_ms: number;
  success: number;
  status_code: number | null;
  error_class: string | null;
  error_message: string | null;
  response_excerpt: string | null;
}

// AUTOINCREMENT ids as the old table gave them; each delivery of another (event, webhook) pair.
const OLD_DELIVERIES: Record<"pending" | "success" | "failed" | "retrying" | "cancelled", OldDelivery> = {
  pending: {
    id: 1,
    webhook_id: TENANT_HOOK,
    event_id: EVENTS.tenant.id,
    status: "pending",
    attempt_count: 0,
    next_attempt_at: T0,
    in_queue: 1,
    last_attempt_at: null,
    last_status_code: null,
    last_error_class: null,
    last_error: null,
    created_at: T0,
    updated_at: T0,
    completed_at: null,
  },
  success: {
    id: 2,
    webhook_id: PARTNER_HOOK,
    event_id: EVENTS.tenant.id,
    status: "success",
    attempt_count: 2,
    next_attempt_at: null,
    in_queue: 0,
    last_attempt_at: T0 + 61_000,
    last_status_code: 200,
    last_error_class: null,
    last_error: null,
    created_at: T0,
    updated_at: T0 + 61_100,
    completed_at: T0 + 61_100,
  },
  failed: {
    id: 3,
    webhook_id: PARTNER_HOOK,
    event_id: EVENTS.partner.id,
    status: "failed",
    attempt_count: 1,
    next_attempt_at: null,
    in_queue: 0,
    last_attempt_at: T0 + 1_010,
    last_status_code: null,
    last_error_class: "timeout",
    last_error: "timeout: no answer within 15 s",
    created_at: T0 + 1_000,
    updated_at: T0 + 16_000,
    completed_at: T0 + 16_000,
  },
  retrying: {
    id: 4,
    webhook_id: TENANT_HOOK,
    event_id: EVENTS.later.id,
    status: "retrying",
    attempt_count: 1,
    next_attempt_at: NOW + HOUR,
    in_queue: 0,
    last_attempt_at: T0 + 2_010,
    last_status_code: 503,
    last_error_class: "http_5xx",
    last_error: "http_5xx: HTTP 503",
    created_at: T0 + 2_000,
    updated_at: T0 + 2_100,
    completed_at: null,
  },
  // Finished, but written without a completion time: it must not count as open after the upgrade.
  cancelled: {
    id: 5,
    webhook_id: PARTNER_HOOK,
    event_id: EVENTS.later.id,
    status: "cancelled",
    attempt_count: 0,
    next_attempt_at: null,
    in_queue: 0,
    last_attempt_at: null,
    last_status_code: null,
    last_error_class: null,
    last_error: "endpoint disabled",
    created_at: T0 + 2_000,
    updated_at: T0 + 3_000,
    completed_at: null,
  },
};
const OLD_ATTEMPTS: OldAttempt[] = [
  // Written out of attempt order (the second recorded first): the upgrade keeps attempt order.
  {
    delivery_id: 2,
    attempt_number: 2,
    started_at: T0 + 61_000,
    duration_ms: 40,
    success: 1,
    status_code: 200,
    error_class: null,
    error_message: null,
    response_excerpt: "ok",
  },
  {
    delivery_id: 2,
    attempt_number: 1,
    started_at: T0 + 10,
    duration_ms: 30,
    success: 0,
    status_code: 503,
    error_class: "http_5xx",
    error_message: "http_5xx: HTTP 503",
    response_excerpt: "busy",
  },
  {
    delivery_id: 3,
    attempt_number: 1,
    started_at: T0 + 1_010,
    duration_ms: 15_000,
    success: 0,
    status_code: null,
    error_class: "timeout",
    error_message: "timeout: no answer within 15 s",
    response_excerpt: null,
  },
  {
    delivery_id: 4,
    attempt_number: 1,
    started_at: T0 + 2_010,
    duration_ms: 20,
    success: 0,
    status_code: 503,
    error_class: "http_5xx",
    error_message: "http_5xx: HTTP 503",
    response_excerpt: null,
  },
];

/** The attempts a delivery's row holds after the upgrade: its delivery_attempts rows, in attempt order. */
const attemptsOf = (deliveryId: number): AttemptRecord[] =>
  OLD_ATTEMPTS.filter((a) => a.delivery_id === deliveryId)
    .sort((a, b) => a.attempt_number - b.attempt_number)
    .map((a) => ({
      attempt: a.attempt_number,
      started_at: a.started_at,
      duration_ms: a.duration_ms,
      success: a.success === 1,
      status_code: a.status_code,
      error_class: a.error_class as AttemptRecord["error_class"],
      error: a.error_message,
      response_body: a.response_excerpt,
    }));

/** The rows as the code before 0008 wrote them. */
function oldRows(): D1PreparedStatement[] {
  const endpoint = (id: string, tenant: string | null) =>
    db()
      .prepare(
        `INSERT INTO webhook_endpoints (id, tenant_id, partner_id, url, events, secret, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, '["*"]', 'whsec_dXBncmFkZWQtc2VjcmV0LTAxMjM0NTY3ODk=', ?5, ?5)`,
      )
      .bind(id, tenant, PARTNER, hook.url, T0 - HOUR);
  return [
    endpoint(TENANT_HOOK, TENANT),
    endpoint(PARTNER_HOOK, null),
    db()
      .prepare("INSERT INTO tenant_partners (tenant_id, partner_id, source, updated_at) VALUES (?, ?, 'admin', ?)")
      .bind(TENANT, PARTNER, T0 - HOUR),
    ...Object.values(EVENTS).map((e) =>
      db()
        .prepare(
          "INSERT INTO events (id, event_type, tenant_id, partner_id, payload, created_at) VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(e.id, e.event_type, e.tenant_id, e.partner_id, e.payload, e.created_at),
    ),
    ...Object.values(OLD_DELIVERIES).map((d) =>
      db()
        .prepare(
          `INSERT INTO deliveries (id, webhook_id, event_id, event_type, status, attempt_count, next_attempt_at, in_queue,
             last_attempt_at, last_status_code, last_error_class, last_error, created_at, updated_at, completed_at)
           VALUES (?1, ?2, ?3, 'user.created', ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)`,
        )
        .bind(
          d.id,
          d.webhook_id,
          d.event_id,
          d.status,
          d.attempt_count,
          d.next_attempt_at,
          d.in_queue,
          d.last_attempt_at,
          d.last_status_code,
          d.last_error_class,
          d.last_error,
          d.created_at,
          d.updated_at,
          d.completed_at,
        ),
    ),
    ...OLD_ATTEMPTS.map((a) =>
      db()
        .prepare(
          `INSERT INTO delivery_attempts (delivery_id, webhook_id, attempt_number, started_at, duration_ms, success,
             status_code, error_class, error_message, response_excerpt)
           SELECT ?1, webhook_id, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9 FROM deliveries WHERE id = ?1`,
        )
        .bind(
          a.delivery_id,
          a.attempt_number,
          a.started_at,
          a.duration_ms,
          a.success,
          a.status_code,
          a.error_class,
          a.error_message,
          a.response_excerpt,
        ),
    ),
    ...["stats_rollup", "retention", "retry_sweep"].map((name) =>
      db()
        .prepare(
          `INSERT INTO job_runs (name, registered_at, last_started_at, last_finished_at, last_outcome, last_succeeded_at)
           VALUES (?1, ?2, ?2, ?2, 'succeeded', ?2)`,
        )
        .bind(name, T0),
    ),
  ];
}

const tableNames = async () =>
  (
    await db()
      .prepare("SELECT name FROM sqlite_master WHERE type IN ('table', 'view') ORDER BY name")
      .all<{ name: string }>()
  ).results.map((r) => r.name);

beforeAll(async () => {
  const migrations = env.TEST_MIGRATIONS;
  const cut = migrations.findIndex((m) => m.name.startsWith("0008_"));
  // Named, not counted: the database a deployment of 0000..0007 holds.
  expect(migrations.slice(0, cut).map((m) => m.name.slice(0, 5))).toEqual(
    ["0000", "0001", "0002", "0003", "0004", "0005", "0006", "0007"].map((n) => `${n}_`),
  );
  expect(migrations.slice(cut).map((m) => m.name)).toEqual([
    "0008_event_keys_per_owner.sql",
    "0009_slow_lane.sql",
    "0010_hot_partitions.sql",
    "0011_portal_flash.sql",
    "0012_shards.sql",
    "0013_flow_control.sql",
  ]);
  await applyD1Migrations(db(), migrations.slice(0, cut));
  expect(await tableNames()).toEqual(expect.arrayContaining(["delivery_attempts", "events", "deliveries"]));
  await db().batch(oldRows());
  await applyD1Migrations(db(), migrations);
});

describe("upgrading a database written before event keys per owner and hourly partitions", () => {
  it("keeps every owner it holds in shard 0 (0012): adding shards later moves nobody", async () => {
    const owners = async (sql: string) => (await db().prepare(sql).all<{ o: string }>()).results.map((r) => r.o);
    const held = [
      ...(await owners("SELECT DISTINCT owner_key AS o FROM events")),
      ...(await owners("SELECT DISTINCT 't:' || tenant_id AS o FROM webhook_endpoints WHERE tenant_id IS NOT NULL")),
      ...(await owners("SELECT DISTINCT 'p:' || partner_id AS o FROM webhook_endpoints WHERE partner_id IS NOT NULL")),
    ];
    expect(held.length).toBeGreaterThan(2);
    const { results } = await db().prepare("SELECT owner_key, shard FROM owner_shards").all<{
      owner_key: string;
      shard: number;
    }>();
    const placed = new Map(results.map((r) => [r.owner_key, r.shard]));
    for (const owner of held) expect(placed.get(owner), owner).toBe(0);
  });

  it("moves every event under its owner's key, with its payload byte for byte", async () => {
    const { results } = await db()
      .prepare(
        "SELECT owner_key, event_id, event_type, tenant_id, partner_id, payload, created_at FROM events ORDER BY event_id",
      )
      .all();
    const expected = [
      { owner_key: `p:${PARTNER}`, ...EVENTS.partner },
      { owner_key: `t:${TENANT}`, ...EVENTS.tenant },
      { owner_key: `t:${TENANT}`, ...EVENTS.later },
    ]
      .map(({ id, ...e }) => ({ ...e, event_id: id }))
      .sort((a, b) => a.event_id.localeCompare(b.event_id));
    expect(results).toEqual(expected);
    // The view the code reads holds them (no partition exists yet).
    expect((await db().prepare("SELECT * FROM events_live ORDER BY event_id").all()).results).toEqual(results);
  });

  it("keeps every delivery under its id, its event named by owner and bare id, its attempts folded in attempt order", async () => {
    const { results } = await db().prepare("SELECT * FROM deliveries ORDER BY id").all<Record<string, any>>();
    const ownerOf = (eventId: string) => (eventId === EVENTS.partner.id ? `p:${PARTNER}` : `t:${TENANT}`);
    expect(results.map((r) => ({ ...r, attempts: JSON.parse(r.attempts) }))).toEqual(
      Object.values(OLD_DELIVERIES).map((d) => ({
        webhook_id: d.webhook_id,
        id: d.id,
        event_owner: ownerOf(d.event_id),
        event_id: d.event_id,
        event_hour: hourOf(d.created_at),
        event_type: "user.created",
        status: d.status,
        attempt_count: d.attempt_count,
        lease_until: null,
        due_at: d.next_attempt_at ?? d.created_at,
        in_queue: d.in_queue,
        last_attempt_at: d.last_attempt_at,
        last_status_code: d.last_status_code,
        last_error_class: d.last_error_class,
        last_error: d.last_error,
        attempts: attemptsOf(d.id),
        retry_of: null,
        created_at: d.created_at,
        updated_at: d.updated_at,
        // Open (no completion time) only while active.
        completed_at: isActiveDelivery(d.status as DeliveryStatus) ? null : (d.completed_at ?? d.updated_at),
      })),
    );
    expect((await db().prepare("SELECT * FROM deliveries_live ORDER BY id").all()).results).toEqual(results);
    // The open ones are exactly what the sweep's index holds.
    const open = await db()
      .prepare("SELECT id FROM deliveries INDEXED BY deliveries_open_idx WHERE completed_at IS NULL ORDER BY id")
      .all<{ id: number }>();
    expect(open.results.map((r) => r.id)).toEqual([OLD_DELIVERIES.pending.id, OLD_DELIVERIES.retrying.id]);
  });

  it("drops what the new design no longer has: the attempts and archive tables, the rollup's and retention's runs", async () => {
    const tables = await tableNames();
    expect(tables).not.toContain("delivery_attempts");
    expect(tables).not.toContain("delivery_archives");
    expect(tables).toEqual(expect.arrayContaining(["deliveries_live", "events_live", "archive_days", "archive_hours"]));
    const { results } = await db().prepare("SELECT name FROM job_runs ORDER BY name").all<{ name: string }>();
    expect(results.map((r) => r.name)).toEqual(["retry_sweep"]);
  });

  it("leaves every webhook as it was: no rate limit, any order, no warning announced", async () => {
    const token = await partnerAdmin(PARTNER);
    for (const id of [TENANT_HOOK, PARTNER_HOOK]) {
      const res = await api("GET", `${WEBHOOKS}/${id}`, { token, ...onUpgraded });
      expect(res.body).toMatchObject({ rate_limit: null, ordered: false, ordered_head_delivery_id: null });
    }
    const { results } = await db()
      .prepare("SELECT DISTINCT failure_warning_percent, ordered_from FROM webhook_endpoints")
      .all();
    expect(results).toEqual([{ failure_warning_percent: 0, ordered_from: 0 }]);
  });

  it("shows and filters the old deliveries through the API, payload and attempts as recorded", async () => {
    const token = await partnerAdmin(PARTNER);
    const listed = await api("GET", `${WEBHOOKS}/${PARTNER_HOOK}/deliveries?event_id=${EVENTS.tenant.id}`, {
      token,
      ...onUpgraded,
    });
    expect(listed.status).toBe(200);
    expect(listed.body.items.map((d: { id: number }) => d.id)).toEqual([OLD_DELIVERIES.success.id]);
    const detail = await api("GET", `${WEBHOOKS}/${PARTNER_HOOK}/deliveries/${OLD_DELIVERIES.success.id}`, {
      token,
      ...onUpgraded,
    });
    expect(detail.body).toMatchObject({
      id: OLD_DELIVERIES.success.id,
      event_id: EVENTS.tenant.id,
      status: "success",
      attempts: [
        { attempt: 1, success: false, status_code: 503, response_body: "busy" },
        { attempt: 2, success: true, status_code: 200, response_body: "ok" },
      ],
    });
    expect(detail.body.payload).toMatchObject({ event_id: EVENTS.tenant.id, tenant_id: TENANT });
    const failed = await api("GET", `${WEBHOOKS}/${PARTNER_HOOK}/deliveries?status=failed`, { token, ...onUpgraded });
    expect(failed.body.items.map((d: { id: number; event_id: string }) => [d.id, d.event_id])).toEqual([
      [OLD_DELIVERIES.failed.id, EVENTS.partner.id],
    ]);
  });

  it("sends an old pending delivery with its event_id in both header schemes, its payload as stored", async () => {
    const deps = { ...deliveryDeps({ now: Date.now() }), db: createDb(env.UPGRADE_DB) };
    const outcome = await attemptDelivery(deps, { webhookId: TENANT_HOOK, id: OLD_DELIVERIES.pending.id });
    expect(outcome).toMatchObject({ status: "success" });
    const [sent] = await waitFor(async () => {
      const got = await recorded(hook.key);
      return got.length > 0 && got;
    });
    expect(sent!.headers["x-scaikey-event-id"]).toBe(EVENTS.tenant.id);
    expect(sent!.headers["webhook-id"]).toBe(EVENTS.tenant.id);
    expect(sent!.body).toBe(EVENTS.tenant.payload);
    const row = await db()
      .prepare("SELECT status, attempts FROM deliveries_live WHERE webhook_id = ? AND id = ?")
      .bind(TENANT_HOOK, OLD_DELIVERIES.pending.id)
      .first<{ status: string; attempts: string }>();
    expect(row!.status).toBe("success");
    expect(JSON.parse(row!.attempts)).toMatchObject([{ attempt: 1, success: true, status_code: 200 }]);
  });

  it("keeps an old event_id its owner's: a duplicate for its owner, another event for anyone else", async () => {
    const again = async (token: string, owner: Record<string, string>) =>
      (
        await api("POST", "/api/v1/events", {
          token,
          body: {
            event_id: EVENTS.tenant.id,
            event_type: "user.created",
            ...owner,
            resource: { type: "user", id: "usr_old" },
            data: {},
          },
          ...onUpgraded,
        })
      ).body;
    expect(await again(await publisher(TENANT, PARTNER), { tenant_id: TENANT })).toEqual({
      event_id: EVENTS.tenant.id,
      deliveries: 0,
      duplicate: true,
    });
    expect(await again(await superAdmin(), { tenant_id: OTHER_TENANT })).toMatchObject({ duplicate: false });
    const owners = await db()
      .prepare("SELECT owner_key FROM events_live WHERE event_id = ? ORDER BY owner_key")
      .bind(EVENTS.tenant.id)
      .all<{ owner_key: string }>();
    expect(owners.results.map((r) => r.owner_key)).toEqual([`t:${OTHER_TENANT}`, `t:${TENANT}`].sort());
  });

  it("replays an old event to a webhook created after the upgrade, under its owner's key", async () => {
    const token = await tenantAdmin(TENANT, PARTNER);
    const created = await api("POST", `${WEBHOOKS}/`, {
      token,
      body: { url: hookUrl().url, events: ["user.created"] },
      ...onUpgraded,
    });
    expect(created.status).toBe(201);
    const replayed = await api("POST", `${WEBHOOKS}/${created.body.id}/replay`, {
      token,
      body: { since: new Date(T0 - 60_000).toISOString(), event_types: ["user.created"] },
      ...onUpgraded,
    });
    expect(replayed.body).toMatchObject({ deliveries: 2 }); // the tenant's two old events; not the partner-level one
    const { results } = await db()
      .prepare("SELECT event_owner, event_id FROM deliveries_live WHERE webhook_id = ? ORDER BY event_id")
      .bind(created.body.id)
      .all();
    expect(results).toEqual(
      [EVENTS.later.id, EVENTS.tenant.id].sort().map((event_id) => ({ event_owner: `t:${TENANT}`, event_id })),
    );
  });

  it("finds an old delivery by its id once the storage job has archived it (its id names no time)", async () => {
    const hours = await db().prepare("SELECT last_id, hour FROM legacy_delivery_hours").all<{ hour: number }>();
    expect(hours.results).toEqual([
      { last_id: Math.max(...Object.values(OLD_DELIVERIES).map((d) => d.id)), hour: hourOf(T0) },
    ]);
    const later = NOW + 8 * HOUR; // every old delivery that finished is history by then
    const services = { ...createServices({ ...env, ...onUpgraded.bindings } as Env), now: () => later };
    for (let run = 0; run < 20; run++) if ((await runStorage(services)).complete) break;
    const inD1 = await db()
      .prepare("SELECT count(*) AS n FROM deliveries_live WHERE webhook_id = ? AND id = ?")
      .bind(PARTNER_HOOK, OLD_DELIVERIES.success.id)
      .first<{ n: number }>();
    expect(inD1!.n).toBe(0);
    const detail = await api("GET", `${WEBHOOKS}/${PARTNER_HOOK}/deliveries/${OLD_DELIVERIES.success.id}`, {
      token: await partnerAdmin(PARTNER),
      ...onUpgraded,
    });
    expect(detail.status).toBe(200);
    expect(detail.body).toMatchObject({ id: OLD_DELIVERIES.success.id, event_id: EVENTS.tenant.id, status: "success" });
    expect(detail.body.attempts).toHaveLength(2);
    expect(detail.body.payload).toMatchObject({ event_id: EVENTS.tenant.id });
  });
});
