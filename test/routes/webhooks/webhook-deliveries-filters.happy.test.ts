// GET …/{webhook_id}/deliveries filters: every filter alone and combined, with pagination, against a brute-force
// filter over the same rows; and every plan of the list goes through an index of the webhook's deliveries.
import { env } from "cloudflare:workers";
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import { DELIVERY_STATUSES, ERROR_CLASSES } from "../../../src/db/schema";
import { type DeliveryFilter, deliveryListQueries } from "../../../src/domain/deliveries";
import { eventKey } from "../../../src/domain/event-key";
import { api, createWebhook, WEBHOOKS } from "../../helpers/api";
import { db } from "../../helpers/deliveries";
import { tenantAdmin } from "../../helpers/tokens";

const TENANT = "tnt_filters";
const EVENT_TYPES = ["user.created", "user.updated", "group.created"];
const STATUS_CODES = [null, 200, 410, 500, 503];
const BASE = Date.UTC(2026, 10, 20); // the rows' created_at: BASE + i minutes
const ROWS = 60;

interface Row {
  id: number;
  event_id: string;
  event_type: string;
  status: string;
  created_at: number;
  last_status_code: number | null;
  last_error_class: string | null;
}

let token: string;
let webhookId: string;
let rows: Row[];

beforeAll(async () => {
  token = await tenantAdmin(TENANT);
  webhookId = (await createWebhook(token, { events: ["*"] })).id;
  // Rows as the engine leaves them, with every combination of the filtered columns over a deterministic spread.
  const statements: D1PreparedStatement[] = [];
  for (let i = 0; i < ROWS; i++) {
    const eventId = `evt_filters_${i}`;
    const eventType = EVENT_TYPES[i % 3]!;
    const status = DELIVERY_STATUSES[(i * 7) % DELIVERY_STATUSES.length]!;
    const code = STATUS_CODES[Math.floor(i / 5) % STATUS_CODES.length]!;
    const errorClass = status === "success" ? null : ERROR_CLASSES[(i * 3) % 4]!; // timeout, connection_refused, dns, tls
    const createdAt = BASE + i * 60_000 - (i % 4) * 30_000; // ids and times not in the same order
    statements.push(
      env.DB.prepare(
        "INSERT INTO events (id, event_type, tenant_id, payload, created_at) VALUES (?, ?, ?, '{}', ?)",
      ).bind(eventKey(eventId, { tenant_id: TENANT }), eventType, TENANT, createdAt),
      env.DB.prepare(
        `INSERT INTO deliveries (webhook_id, event_id, event_type, status, attempt_count, last_status_code, last_error_class, created_at, updated_at)
         VALUES (?, ?, ?, ?, 1, ?, ?, ?, ?)`,
      ).bind(
        webhookId,
        eventKey(eventId, { tenant_id: TENANT }),
        eventType,
        status,
        code,
        errorClass,
        createdAt,
        createdAt,
      ),
    );
  }
  await env.DB.batch(statements);
  rows = (await env.DB.prepare("SELECT * FROM deliveries WHERE webhook_id = ?").bind(webhookId).all<Row>()).results;
  expect(rows).toHaveLength(ROWS);
});

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
        (q.event_id === undefined || r.event_id === eventKey(q.event_id, { tenant_id: TENANT })) &&
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

const time = fc.integer({ min: -5, max: ROWS + 5 }).map((m) => BASE + m * 60_000 + (m % 2) * 30_000);
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
      { since: BASE + 20 * 60_000 },
      { until: BASE + 20 * 60_000 },
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
  }, 60_000);

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

  it("reads through an index of this webhook's deliveries (of the event's keys, with an event_id), whatever the filters", async () => {
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
    for (const filters of combos) {
      for (const query of deliveryListQueries(db(), webhookId, filters, { page: 2, perPage: 20 })) {
        const { sql, params } = query.toSQL();
        const { results } = await env.DB.prepare(`EXPLAIN QUERY PLAN ${sql}`)
          .bind(...params)
          .all<{ detail: string }>();
        const plan = results.map((r) => r.detail).join("\n");
        expect(plan, `${JSON.stringify(filters)}\n${plan}`).toMatch(
          filters.eventId === undefined
            ? /SEARCH deliveries USING (COVERING )?INDEX \w+ \(webhook_id=\?/
            : /SEARCH deliveries USING (COVERING )?INDEX deliveries_event_webhook_uq \(event_id>\? AND event_id<\?\)/,
        );
        expect(plan).not.toMatch(/SCAN deliveries/);
      }
    }
  });
});
