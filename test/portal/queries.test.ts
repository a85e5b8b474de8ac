// The portal's own reads (domain/portal-queries.ts) on the hourly partitions and the archive: the log across endpoints
// over the whole history (two webhooks' deliveries of one ms share an id), the search by resource id in D1 and in the
// archive, response headers kept for failed attempts only (bounded, never a cookie) and carried into the archive, and
// the plan of every statement they run.
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { createDb } from "../../src/db/client";
import { HOUR_MS, hourOf, listPartitionHours, tablesOf } from "../../src/db/partitions";
import type { DeliveryRow } from "../../src/db/schema";
import { onShard, shardOfWebhook } from "../../src/db/shards";
import { RESPONSE_HEADERS_MAX_BYTES, responseHeadersOf } from "../../src/domain/http-attempt";
import {
  type LogCursor,
  listDeliveriesAcross,
  openRecoveriesOf,
  RESOURCE_SEARCH_ARCHIVED_HOURS,
  recentHealthOf,
  searchDeliveriesByResource,
} from "../../src/domain/portal-queries";
import { createServices } from "../../src/lib/services";
import { api, createWebhook, WEBHOOKS } from "../helpers/api";
import { attemptRows } from "../helpers/deliveries";
import {
  type PastDelivery,
  type StoredDelivery,
  storageAt,
  storePastDeliveries,
  whereStored,
} from "../helpers/history";
import { queryPlansOf } from "../helpers/pipeline";
import { PortalVisitor, textOf } from "../helpers/portal";
import { hookUrl } from "../helpers/receiver";
import { d1OfWebhook } from "../helpers/shards";
import { publisher, tenantAdmin } from "../helpers/tokens";

const TENANT = "tnt_portal_history";
const MINUTE = 60_000;
const NOW = Date.now();
const services = () => ({ ...createServices(env), now: () => NOW });

let token: string;
let a: { id: string };
let b: { id: string };
let stored: StoredDelivery[];

/** The log's order: newest first, the webhook breaking ties (ids are unique per webhook only). */
const logKey = (d: { webhook_id: string; id: number } | DeliveryRow) =>
  "webhook_id" in d ? `${d.webhook_id}/${d.id}` : `${d.webhookId}/${d.id}`;
const inLogOrder = (rows: StoredDelivery[]) =>
  [...rows].sort((x, y) => y.id - x.id || (x.webhook_id < y.webhook_id ? 1 : -1)).map(logKey);

beforeAll(async () => {
  token = await tenantAdmin(TENANT);
  a = await createWebhook(token, { url: hookUrl().url, events: ["*"] });
  b = await createWebhook(token, { url: hookUrl().url, events: ["*"] });
  // Ten hours of deliveries, one every 25 minutes on each webhook: history (sealed into the archive below) and the hot
  // window. Every other time both webhooks get the same event in the same ms, so their deliveries share an id.
  const old = (hourOf(NOW) - 10) * HOUR_MS;
  const past: PastDelivery[] = [];
  for (let i = 0; i < 24; i++) {
    const at = old + i * 25 * MINUTE;
    const failed = i % 3 === 0;
    const common = {
      tenantId: TENANT,
      status: failed ? ("failed" as const) : ("success" as const),
      lastStatusCode: failed ? (i % 2 === 0 ? 503 : null) : 200,
      lastErrorClass: failed ? (i % 2 === 0 ? ("http_5xx" as const) : ("timeout" as const)) : null,
      resourceId: i % 5 === 0 ? "usr_wanted" : `usr_other_${i}`,
      responseHeaders: failed && i % 2 === 0 ? ([["retry-after", "60"]] as [string, string][]) : undefined,
    };
    const shared = i % 2 === 0 ? { eventId: `evt_shared_${i}` } : {};
    past.push({ webhookId: a.id, createdAt: at, ...common, ...shared });
    past.push({ webhookId: b.id, createdAt: i % 2 === 0 ? at : at + 7, ...common, ...shared });
  }
  stored = await storePastDeliveries(past);
  await storageAt(NOW);
  const where = await whereStored(a.id);
  expect(where.archive).toBeGreaterThan(0);
  expect(where.partitions).toBeGreaterThan(0);
});

describe("the log across endpoints", () => {
  /** Every page of the merged log from the top, `perPage` at a time. */
  async function allPages(filters: Parameters<typeof listDeliveriesAcross>[2], perPage: number) {
    const seen: DeliveryRow[] = [];
    let cursor: LogCursor | null = null;
    const totals: number[] = [];
    for (let page = 0; page < 100; page++) {
      const { rows, total } = await listDeliveriesAcross(services(), [a.id, b.id], filters, perPage, cursor);
      totals.push(total);
      seen.push(...rows);
      if (rows.length < perPage) break;
      const last = rows[rows.length - 1]!;
      cursor = { id: last.id, webhookId: last.webhookId };
    }
    return { seen, totals };
  }

  it("pages through D1 and the archive, newest first, every delivery once, shared ids included", async () => {
    const { seen, totals } = await allPages([{}], 7);
    expect(seen.map(logKey)).toEqual(inLogOrder(stored));
    expect(totals[0]).toBe(48);
    // "from here on": each page's total counts what is left from its cursor.
    expect(totals[1]).toBe(41);
  });

  it("with several filters (a kind of error is several classes), over the whole history", async () => {
    const { seen, totals } = await allPages([{ lastErrorClass: "timeout" }, { lastErrorClass: "http_5xx" }], 3);
    const failed = stored.filter((d) => d.status === "failed");
    expect(failed.length).toBe(16);
    expect(seen.map(logKey)).toEqual(inLogOrder(failed));
    expect(totals[0]).toBe(16);
  });

  it("through the portal: the tenant log's Older link keeps going into the archive", async () => {
    const visitor = await PortalVisitor.signIn(token);
    const keys: string[] = [];
    let path: string | undefined = "/portal/deliveries";
    for (let i = 0; path && i < 10; i++) {
      const page = await visitor.open(path);
      expect(page.status).toBe(200);
      keys.push(...[...page.html.matchAll(/webhooks\/(wh_\w+)\/deliveries\/(\d+)"/g)].map((m) => `${m[1]}/${m[2]}`));
      path = /href="(\/portal\/deliveries\?before=[^"]+)" rel="next"|rel="next"\s+href="([^"]+)"/
        .exec(page.html)
        ?.slice(1)
        .find(Boolean)
        ?.replaceAll("&amp;", "&");
    }
    expect(keys).toEqual(inLogOrder(stored));
  });
});

describe("the search by resource id", () => {
  const wanted = () => stored.filter((d) => JSON.parse(d.payload).resource.id === "usr_wanted");

  it("decodes the events of D1's deliveries and of the archive's; says from when on it searched", async () => {
    expect(wanted()).toHaveLength(10);
    const everything = await searchDeliveriesByResource(
      services(),
      [a.id, b.id],
      "usr_wanted",
      { from: NOW - 30 * 24 * HOUR_MS, until: NOW + 1 },
      50,
    );
    expect(everything.rows.map(logKey)).toEqual(inLogOrder(wanted()));
    // A month was asked for: it read the hot window and the archive's newest day past it, and says so.
    const hot = createServices(env).config.hotWindowHours;
    expect(everything.coveredFrom).toBe(NOW - (hot + RESOURCE_SEARCH_ARCHIVED_HOURS) * HOUR_MS);
    const window = { from: NOW - 12 * HOUR_MS, until: NOW + 1 };
    const narrow = await searchDeliveriesByResource(services(), [a.id], "usr_wanted", window, 50);
    expect(narrow.coveredFrom).toBe(window.from);
    expect(narrow.rows.map(logKey)).toEqual(inLogOrder(wanted().filter((d) => d.webhook_id === a.id)));
    const none = await searchDeliveriesByResource(services(), [a.id, b.id], "usr_nobody", window, 50);
    expect(none.rows).toEqual([]);
    const limited = await searchDeliveriesByResource(services(), [a.id, b.id], "usr_wanted", window, 3);
    expect(limited.rows.map(logKey)).toEqual(inLogOrder(wanted()).slice(0, 3));
  });

  it("reads a payload D1 stores compressed", async () => {
    const published = await api("POST", "/api/v1/events", {
      token: await publisher(TENANT),
      body: {
        event_type: "user.updated",
        tenant_id: TENANT,
        resource: { type: "user", id: "usr_packed" },
        data: { note: "a long note that compresses well ".repeat(20) },
      },
    });
    expect(published.status).toBe(202);
    const stored = await d1OfWebhook(a.id)
      .prepare("SELECT typeof(payload) AS type FROM events_live WHERE event_id = ?")
      .bind(published.body.event_id)
      .first<{ type: string }>();
    expect(stored!.type).toBe("blob");
    const found = await searchDeliveriesByResource(
      createServices(env),
      [a.id, b.id],
      "usr_packed",
      { from: Date.now() - HOUR_MS, until: Date.now() + 1 },
      50,
    );
    expect(found.rows.map((d) => d.eventId)).toEqual([published.body.event_id, published.body.event_id]);
  });

  it("through the portal, with what the search covered", async () => {
    const visitor = await PortalVisitor.signIn(token);
    const page = await visitor.open("/portal/deliveries?resource_id=usr_wanted");
    expect(page.status).toBe(200);
    expect([...page.html.matchAll(/webhooks\/(wh_\w+)\/deliveries\/(\d+)"/g)]).toHaveLength(10);
    expect(textOf(page.html)).toMatch(/about resource usr_wanted created since \d{4}-\d\d-\d\d \d\d:\d\d UTC/);
  });
});

describe("response headers", () => {
  it("a failed attempt keeps the telling ones first, within the byte cap, never a cookie", () => {
    const headers = new Headers();
    for (let i = 0; i < 30; i++) headers.append(`x-filler-${i}`, "v".repeat(100));
    headers.append("set-cookie", "session=secret");
    headers.append("server", "nginx");
    headers.append("retry-after", "120");
    headers.append("content-type", "text/html");
    headers.append("x-long", "z".repeat(400));
    headers.append("connection", "keep-alive");
    headers.append("keep-alive", "timeout=5");
    const kept = responseHeadersOf(headers);
    expect(new TextEncoder().encode(JSON.stringify(kept)).byteLength).toBeLessThanOrEqual(RESPONSE_HEADERS_MAX_BYTES);
    expect(kept.slice(0, 3)).toEqual([
      ["retry-after", "120"],
      ["content-type", "text/html"],
      ["server", "nginx"],
    ]);
    expect(kept.map(([name]) => name)).not.toContain("set-cookie");
    // Hop-by-hop headers describe the connection, not the response: never kept, however much room is left.
    expect(
      responseHeadersOf(new Headers({ connection: "keep-alive", "keep-alive": "timeout=5", server: "a" })),
    ).toEqual([["server", "a"]]);
    expect(kept.every(([, value]) => value.length <= 200)).toBe(true);
    expect(kept.length).toBeGreaterThan(3);
  });

  it("are recorded with a failed attempt only; the portal says a success keeps none", async () => {
    const failing = await createWebhook(token, { url: hookUrl({ plan: [503], retryAfter: "120" }).url });
    const working = await createWebhook(token, { url: hookUrl().url });
    const failed = await api("POST", `${WEBHOOKS}/${failing.id}/test`, { token });
    const ok = await api("POST", `${WEBHOOKS}/${working.id}/test`, { token });
    const [failedAttempt] = await attemptRows({ webhookId: failing.id, id: failed.body.delivery_id });
    const [okAttempt] = await attemptRows({ webhookId: working.id, id: ok.body.delivery_id });
    expect(failedAttempt!.response_headers).toContainEqual(["retry-after", "120"]);
    expect(okAttempt).not.toHaveProperty("response_headers");
    const visitor = await PortalVisitor.signIn(token);
    const page = await visitor.open(`/portal/webhooks/${working.id}/deliveries/${ok.body.delivery_id}`);
    expect(textOf(page.html)).toContain("Response headers: not kept for successful attempts.");
    expect(page.html).not.toContain("Response headers of attempt 1");
  });

  it("an archived attempt carries what its row carried", async () => {
    const archived = stored.find(
      (d) => d.webhook_id === a.id && d.attempts[0]?.response_headers && d.created_at < NOW - 6 * HOUR_MS,
    )!;
    expect(await attemptRows({ webhookId: a.id, id: archived.id })).toEqual([]); // not in D1 any more
    const visitor = await PortalVisitor.signIn(token);
    const page = await visitor.open(`/portal/webhooks/${a.id}/deliveries/${archived.id}`);
    expect(page.status).toBe(200);
    expect(page.html).toContain("Response headers of attempt 1");
    expect(textOf(page.html)).toContain("retry-after 60");
  });
});

describe("plans", () => {
  it("every statement reads the deliveries and events tables by their primary keys, the archive's index by its own", async () => {
    await recentHealthOf(services(), [{ id: a.id, enabled: true }]); // warm nothing; the real run is below
    // The tenant's shard, its database recorded (a webhook's reads never leave its shard).
    const shard = shardOfWebhook(a.id);
    const plans = await queryPlansOf(
      async (d1) => {
        const s = { ...onShard(services(), shard), db: createDb(d1) };
        await listDeliveriesAcross(s, [a.id, b.id], [{ status: "failed" }], 20, {
          id: stored[10]!.id,
          webhookId: a.id,
        });
        await searchDeliveriesByResource(s, [a.id, b.id], "usr_wanted", { from: 0, until: NOW + 1 }, 50);
        await recentHealthOf(s, [
          { id: a.id, enabled: true },
          { id: b.id, enabled: true },
        ]);
        await openRecoveriesOf(s.db, a.id);
      },
      { statements: true, d1: d1OfWebhook(a.id) },
    );
    const hot = await listPartitionHours(d1OfWebhook(a.id));
    const keyed = new Set([...tablesOf("deliveries", hot), ...tablesOf("events", hot)]);
    const steps = plans.flatMap(({ sql, plan }) => plan.map((step) => ({ sql, step })));
    for (const { sql, step } of steps) {
      const table = /^(?:SCAN|SEARCH) (\w+)/.exec(step)?.[1];
      if (table && keyed.has(table)) expect(step, sql).toMatch(/^SEARCH \w+ USING PRIMARY KEY \(/);
      if (table === "archive_days" || table === "archive_hours") expect(step, sql).toMatch(/^SEARCH /);
      if (table === "webhook_recoveries") expect(step, sql).toContain("webhook_recoveries_open_idx");
      // Ordered reads merge the partitions' keys; nothing is sorted.
      expect(step, sql).not.toContain("TEMP B-TREE FOR ORDER BY");
    }
    // Each statement the portal itself runs was seen.
    for (const start of [
      "SELECT webhook_id, id, event_owner, event_id, created_at FROM deliveries_live",
      "SELECT owner_key, event_id, payload FROM events_live",
      "SELECT * FROM deliveries_live\n  WHERE (webhook_id, id) IN",
      "SELECT scope, day, counts FROM archive_days",
      "SELECT webhook_id, id, last_attempt_at",
      "SELECT id, kind, since, until, cursor, requested_at FROM webhook_recoveries",
    ])
      expect(
        plans.some((p) => p.sql.startsWith(start)),
        start,
      ).toBe(true);
  });
});
