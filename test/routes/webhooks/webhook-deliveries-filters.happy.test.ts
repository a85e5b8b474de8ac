// GET …/{webhook_id}/deliveries filters: every filter alone and combined, with pagination, against a brute-force
// filter over the same rows, over two days of history: the hot window's partitions, the deliveries table (what
// outlived its sealed hour: still retrying, or finished recently) and the archive in R2, with an exact total and pages
// that run across them newest first. Every plan of the list goes through each table's primary key.
import { env } from "cloudflare:workers";
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import { createDb } from "../../../src/db/client";
import { listPartitionHours, tablesOf } from "../../../src/db/partitions";
import { DELIVERY_STATUSES, ERROR_CLASSES, isActiveDelivery } from "../../../src/db/schema";
import { onShard, shardOfWebhook } from "../../../src/db/shards";
import { type DeliveryFilter, listDeliveryHistory } from "../../../src/domain/deliveries";
import { CANCELLED_ENDPOINT_DISABLED } from "../../../src/domain/delivery/claim";
import { createServices } from "../../../src/lib/services";
import { api, createWebhook, WEBHOOKS } from "../../helpers/api";
import { type StoredDelivery, storageAt, storePastDeliveries, whereStored } from "../../helpers/history";
import { queryPlansOf } from "../../helpers/pipeline";
import { d1OfWebhook } from "../../helpers/shards";
import { tenantAdmin } from "../../helpers/tokens";

const TENANT = "tnt_filters";
const EVENT_TYPES = ["user.created", "user.updated", "group.created"];
const STATUS_CODES = [null, 200, 410, 500, 503];
const ROWS = 96;
const STEP = 32 * 60_000 + 30_000; // 32.5 minutes: two days of rows, one or two per hour
const NOW = Date.now();
const BASE = NOW - (ROWS - 1) * STEP - 5 * 60_000; // the last rows are in the hot window

let token: string;
let webhookId: string;
let rows: StoredDelivery[];

beforeAll(async () => {
  token = await tenantAdmin(TENANT);
  webhookId = (await createWebhook(token, { events: ["*"] })).id;
  // Rows as the engine leaves them, with every combination of the filtered columns over a deterministic spread.
  rows = await storePastDeliveries(
    Array.from({ length: ROWS }, (_, i) => {
      const status = DELIVERY_STATUSES[(i * 7) % DELIVERY_STATUSES.length]!;
      return {
        webhookId,
        tenantId: TENANT,
        createdAt: BASE + i * STEP + (i % 4) * 1_000,
        status,
        eventType: EVENT_TYPES[i % 3]!,
        eventId: `evt_filters_${i}`,
        lastStatusCode: STATUS_CODES[Math.floor(i / 5) % STATUS_CODES.length]!,
        // timeout, connection_refused, dns, tls; a cancel keeps the class of the attempt before it
        lastErrorClass: status === "success" ? null : ERROR_CLASSES[(i * 3) % 4]!,
        lastError: status === "cancelled" && i % 2 === 0 ? CANCELLED_ENDPOINT_DISABLED : null,
        // Some finished only recently: they outlive their sealed hour in the deliveries table, as open ones do.
        completedAt: i % 11 === 0 && !isActiveDelivery(status) ? NOW - 30 * 60_000 : undefined,
      };
    }),
  );
  // The storage job seals every hour that left the hot window: history to R2, the rest to the deliveries table.
  await storageAt(NOW);
  const where = await whereStored(webhookId);
  expect(where.partitions + where.table + where.archive).toBe(ROWS);
  expect(where.partitions).toBeGreaterThanOrEqual(6);
  expect(where.table).toBeGreaterThanOrEqual(10);
  expect(where.archive).toBeGreaterThanOrEqual(40);
}, 120_000);

interface Query {
  status?: string;
  event_type?: string;
  event_id?: string;
  since?: number;
  until?: number;
  status_code?: number;
  error_class?: string;
  page: number;
  per_page: number;
}

const bruteForce = (q: Query) =>
  rows
    .filter(
      (r) =>
        (q.status === undefined || r.status === q.status) &&
        (q.event_type === undefined || r.event_type === q.event_type) &&
        (q.event_id === undefined || r.event_id === q.event_id) &&
        (q.since === undefined || r.created_at >= q.since) &&
        (q.until === undefined || r.created_at < q.until) &&
        (q.status_code === undefined || r.last_status_code === q.status_code) &&
        (q.error_class === undefined || r.last_error_class === q.error_class),
    )
    .sort((a, b) => b.id - a.id);

const queryString = (q: Query) => {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(q)) {
    if (value === undefined) continue;
    params.set(key, key === "since" || key === "until" ? new Date(value as number).toISOString() : String(value));
  }
  return params.toString();
};

const time = fc.integer({ min: -5, max: ROWS + 5 }).map((m) => BASE + m * STEP + (m % 2) * 16 * 60_000);
const queryArb: fc.Arbitrary<Query> = fc.record(
  {
    status: fc.constantFrom(...DELIVERY_STATUSES),
    event_type: fc.constantFrom(...EVENT_TYPES, "user.deleted"),
    event_id: fc.oneof(
      fc.integer({ min: 0, max: ROWS - 1 }).map((i) => `evt_filters_${i}`),
      fc.constant("evt_unknown"),
    ),
    since: time,
    until: time,
    status_code: fc.constantFrom(200, 410, 500, 503, 404),
    error_class: fc.constantFrom(...ERROR_CLASSES.slice(0, 5)),
    page: fc.integer({ min: 1, max: 4 }),
    per_page: fc.integer({ min: 1, max: 25 }),
  },
  { requiredKeys: ["page", "per_page"] },
);

describe("deliveries list filters", () => {
  it("each filter alone matches the brute-force filter", async () => {
    const single: Query[] = [
      ...DELIVERY_STATUSES.map((status) => ({ status })),
      ...EVENT_TYPES.map((event_type) => ({ event_type })),
      { event_id: "evt_filters_7" },
      { since: BASE + 20 * STEP },
      { until: BASE + 20 * STEP },
      { since: BASE + 20 * STEP + 7 * 60_000, until: BASE + 70 * STEP + 11 * 60_000 },
      ...[200, 410, 500, 503].map((status_code) => ({ status_code })),
      ...ERROR_CLASSES.slice(0, 4).map((error_class) => ({ error_class })),
    ].map((q) => ({ ...q, page: 1, per_page: 100 }));
    for (const q of single) {
      const res = await api("GET", `${WEBHOOKS}/${webhookId}/deliveries?${queryString(q)}`, { token });
      expect(res.status, queryString(q)).toBe(200);
      const expected = bruteForce(q);
      expect(expected.length, `${queryString(q)} selects something`).toBeGreaterThan(0);
      expect(
        res.body.items.map((d: { id: number }) => d.id),
        queryString(q),
      ).toEqual(expected.map((r) => r.id));
      expect(res.body.total).toBe(expected.length);
    }
  });

  it("any combination, on any page, matches the brute-force filter", async () => {
    await fc.assert(
      fc.asyncProperty(queryArb, async (q) => {
        const res = await api("GET", `${WEBHOOKS}/${webhookId}/deliveries?${queryString(q)}`, { token });
        if (q.since !== undefined && q.until !== undefined && q.until <= q.since) {
          expect(res.status).toBe(422);
          expect(res.body.detail[0].loc).toEqual(["query", "until"]);
          return;
        }
        expect(res.status).toBe(200);
        const expected = bruteForce(q);
        const page = expected.slice((q.page - 1) * q.per_page, q.page * q.per_page);
        expect(res.body.items.map((d: { id: number }) => d.id)).toEqual(page.map((r) => r.id));
        expect(res.body).toMatchObject({
          total: expected.length,
          page: q.page,
          per_page: q.per_page,
          pages: Math.ceil(expected.length / q.per_page),
        });
      }),
      { numRuns: 150, seed: 14 },
    );
  }, 120_000);

  it("refuses malformed filters with 422 on the parameter", async () => {
    const cases: [string, string][] = [
      ["status_code=abc", "status_code"],
      ["status_code=99", "status_code"],
      ["status_code=600", "status_code"],
      ["error_class=teapot", "error_class"],
      ["event_type=user.exploded", "event_type"],
      ["since=yesterday", "since"],
      ["until=2026-02-30T00:00:00Z", "until"],
      [`event_id=${"x".repeat(200)}`, "event_id"],
    ];
    for (const [query, param] of cases) {
      const res = await api("GET", `${WEBHOOKS}/${webhookId}/deliveries?${query}`, { token });
      expect(res.status, query).toBe(422);
      expect(res.body.detail[0].loc).toEqual(["query", param]);
    }
  });

  it("reads each table through this webhook's primary key, whatever the filters", async () => {
    const combos: DeliveryFilter[] = [
      {},
      { status: "failed" },
      { eventType: "user.created" },
      { eventId: "evt_filters_1" },
      { eventId: "evt_filters_1", status: "failed", createdFrom: BASE },
      { createdFrom: BASE, createdBefore: BASE + 60_000 },
      { createdFrom: BASE },
      { createdBefore: BASE },
      { lastStatusCode: 500 },
      { lastErrorClass: "timeout" },
      {
        eventType: "user.created",
        lastStatusCode: 500,
        lastErrorClass: "timeout",
        status: "failed",
        createdFrom: BASE,
        createdBefore: BASE + 1,
      },
    ];
    const shard = d1OfWebhook(webhookId);
    const tables = tablesOf("deliveries", await listPartitionHours(shard));
    for (const filter of combos)
      for (const page of [1, 3]) {
        const plans = await queryPlansOf(
          (d1) =>
            listDeliveryHistory(
              { ...onShard(createServices(env), shardOfWebhook(webhookId)), db: createDb(d1) },
              webhookId,
              filter,
              {
                page,
                perPage: 20,
              },
            ),
          { statements: true, d1: shard },
        );
        const onDeliveries = plans.filter((p) => /FROM deliveries(_live)?\b/.test(p.sql));
        // The page, the count, the deliveries table's rows by hour, and (past the partitions' rows) the page's hours.
        expect(onDeliveries.length).toBeGreaterThanOrEqual(3);
        if (page === 3 && Object.keys(filter).length === 0) expect(onDeliveries).toHaveLength(4);
        for (const { sql, plan } of onDeliveries) {
          for (const table of /FROM deliveries_live/.test(sql) ? tables : ["deliveries"])
            expect(
              plan.some((d) => d.startsWith(`SEARCH ${table} USING PRIMARY KEY (webhook_id=?`)),
              `${JSON.stringify(filter)}: ${table}\n${sql}\n${plan.join("\n")}`,
            ).toBe(true);
          expect(plan.filter((d) => /^SCAN (deliveries\b(?!_live)|deliveries_p)/.test(d))).toEqual([]);
        }
      }
  });
});
