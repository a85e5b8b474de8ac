import { beforeAll, describe, expect, it } from "vitest";
import { api, createWebhook, WEBHOOKS } from "../../helpers/api";
import { seedDelivery, updateDelivery } from "../../helpers/deliveries";
import { hookUrl } from "../../helpers/receiver";
import { allShardRows, d1OfOwner, d1OfWebhook } from "../../helpers/shards";
import { mintToken, partnerAdmin, platformToken, superAdmin } from "../../helpers/tokens";

const OWNER_TENANT = "tnt_mx_owner";
const OWNER_PARTNER = "prt_mx_owner";

interface Fixture {
  webhookId: string;
  deliveryId: number;
}

const CONSOLE_SCOPES = "openid profile email";
const consoleToken = (
  role: "super_admin" | "partner_admin" | "tenant_admin",
  tenant: string | null,
  partner: string | null,
) => mintToken({ role, tenant, partner, scope: CONSOLE_SCOPES });
const noRole = (scope: string) => mintToken({ role: null, tenant: OWNER_TENANT, scope });

// The directory knows the owning tenant's partner from the platform, as in production (ScaiKey's tenant events).
const directoryReady = (async () => {
  const res = await api("PUT", `${WEBHOOKS}/tenants/${OWNER_TENANT}/partner`, {
    token: await superAdmin(),
    body: { partner_id: OWNER_PARTNER },
  });
  if (res.status !== 200) throw new Error(`directory: ${res.status} ${JSON.stringify(res.body)}`);
})();
beforeAll(() => directoryReady);

/**
 * A fresh endpoint of the owning tenant, with one failed (so retryable) delivery. Earlier cells' endpoints are retired
 * (soft-deleted) first, so the owning tenant stays under MAX_WEBHOOKS_PER_OWNER however many cells run.
 */
async function fixture(
  creator: () => Promise<string> = () => consoleToken("tenant_admin", OWNER_TENANT, null),
): Promise<Fixture> {
  await directoryReady;
  await (await d1OfOwner(`t:${OWNER_TENANT}`))
    .prepare("UPDATE webhook_endpoints SET deleted_at = ?1 WHERE tenant_id = ?2 AND deleted_at IS NULL")
    .bind(Date.now(), OWNER_TENANT)
    .run();
  const webhookId = (
    await createWebhook(await creator(), { url: hookUrl().url, events: ["*"], tenant_id: OWNER_TENANT })
  ).id;
  const delivery = await seedDelivery(webhookId, OWNER_TENANT);
  await updateDelivery(delivery, { status: "failed", in_queue: 0, completed_at: Date.now() });
  return { webhookId, deliveryId: delivery.id };
}

interface Endpoint {
  method: string;
  path: (f: Fixture) => string;
  body?: () => unknown;
}

const anHourAgo = () => new Date(Date.now() - 3_600_000).toISOString();

// One column per operation of the OpenAPI document, named by its operationId (matrixGaps below keeps it so).
const ENDPOINTS = {
  listWebhooks: { method: "GET", path: () => `${WEBHOOKS}/` },
  listWebhooksWithoutTrailingSlash: { method: "GET", path: () => WEBHOOKS },
  createWebhook: {
    method: "POST",
    path: () => `${WEBHOOKS}/`,
    body: () => ({ url: hookUrl().url, events: ["user.created"], tenant_id: OWNER_TENANT, partner_id: OWNER_PARTNER }),
  },
  createWebhookWithoutTrailingSlash: { method: "POST", path: () => WEBHOOKS },
  listSupportedEvents: { method: "GET", path: () => `${WEBHOOKS}/events` },
  getWebhook: { method: "GET", path: (f) => `${WEBHOOKS}/${f.webhookId}` },
  updateWebhook: {
    method: "PATCH",
    path: (f) => `${WEBHOOKS}/${f.webhookId}`,
    body: () => ({ description: "changed by the matrix" }),
  },
  deleteWebhook: { method: "DELETE", path: (f) => `${WEBHOOKS}/${f.webhookId}` },
  listWebhookDeliveries: { method: "GET", path: (f) => `${WEBHOOKS}/${f.webhookId}/deliveries` },
  getWebhookDelivery: { method: "GET", path: (f) => `${WEBHOOKS}/${f.webhookId}/deliveries/${f.deliveryId}` },
  retryWebhookDelivery: {
    method: "POST",
    path: (f) => `${WEBHOOKS}/${f.webhookId}/deliveries/${f.deliveryId}/retry`,
  },
  sendWebhookTestEvent: { method: "POST", path: (f) => `${WEBHOOKS}/${f.webhookId}/test` },
  rotateWebhookSecret: {
    method: "POST",
    path: (f) => `${WEBHOOKS}/${f.webhookId}/rotate-secret`,
    body: () => ({ expire_previous_in: 60 }),
  },
  getWebhookStats: { method: "GET", path: (f) => `${WEBHOOKS}/${f.webhookId}/stats` },
  getWebhookOperations: { method: "GET", path: () => `${WEBHOOKS}/operations` },
  recoverWebhookDeliveries: {
    method: "POST",
    path: (f) => `${WEBHOOKS}/${f.webhookId}/recover`,
    body: () => ({ since: anHourAgo() }),
  },
  replayWebhookEvents: {
    method: "POST",
    path: (f) => `${WEBHOOKS}/${f.webhookId}/replay`,
    body: () => ({ since: anHourAgo() }),
  },
  createPortalSession: {
    method: "POST",
    path: () => `${WEBHOOKS}/portal-sessions`,
    body: () => ({ tenant_id: OWNER_TENANT }),
  },
  // Assigns the owning tenant to the partner it already has: allowed calls change nothing the other cells rely on.
  assignTenantPartner: {
    method: "PUT",
    path: () => `${WEBHOOKS}/tenants/${OWNER_TENANT}/partner`,
    body: () => ({ partner_id: OWNER_PARTNER }),
  },
  publishEvent: {
    method: "POST",
    path: () => "/api/v1/events",
    body: () => ({
      event_type: "user.created",
      tenant_id: OWNER_TENANT,
      partner_id: OWNER_PARTNER,
      resource: { type: "user", id: "usr_matrix" },
      data: { email: "ada@example.com" },
    }),
  },
  getHealth: { method: "GET", path: () => "/health" },
} satisfies Record<string, Endpoint>;
type EndpointName = keyof typeof ENDPOINTS;
const COLUMNS = Object.keys(ENDPOINTS) as EndpointName[];

type OpenApiDocument = { paths: Record<string, Record<string, { operationId?: string }>> };
const HTTP_METHODS = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];

/**
 * What keeps the matrix whole: every operation of the document has a column, and every column calls an operation of
 * the document by its method and path. Returns what is missing or wrong; empty when the matrix covers the API.
 */
function matrixGaps(document: OpenApiDocument, endpoints: Record<string, Endpoint>): string[] {
  const sample: Fixture = { webhookId: "wh_sample", deliveryId: 1 };
  const gaps: string[] = [];
  const operations = new Set<string>();
  for (const [template, item] of Object.entries(document.paths)) {
    const pattern = new RegExp(`^${template.replace(/\{[^}]+\}/g, "[^/]+")}$`);
    for (const [method, operation] of Object.entries(item)) {
      if (!HTTP_METHODS.includes(method)) continue;
      const name = operation.operationId ?? `${method.toUpperCase()} ${template}`;
      operations.add(name);
      const column = endpoints[name];
      if (!column) gaps.push(`no column for ${name} (${method.toUpperCase()} ${template})`);
      else if (column.method !== method.toUpperCase() || !pattern.test(column.path(sample)))
        gaps.push(
          `column ${name} calls ${column.method} ${column.path(sample)}, not ${method.toUpperCase()} ${template}`,
        );
    }
  }
  for (const name of Object.keys(endpoints))
    if (!operations.has(name)) gaps.push(`column ${name} is no operation of the document`);
  return gaps;
}

const ROLES: Record<string, () => Promise<string | undefined>> = {
  "super_admin (console)": () => consoleToken("super_admin", null, null),
  "partner_admin (owning partner, console)": () => consoleToken("partner_admin", null, OWNER_PARTNER),
  "partner_admin (another partner, console)": () => consoleToken("partner_admin", null, "prt_mx_other"),
  "tenant_admin (owning tenant, console, no partner claim)": () => consoleToken("tenant_admin", OWNER_TENANT, null),
  "tenant_admin (owning tenant, with partner claim)": () => consoleToken("tenant_admin", OWNER_TENANT, OWNER_PARTNER),
  // The directory says OWNER_PARTNER: the token's tenant still reaches its webhooks, but its partner claim moves
  // nothing and makes it refused wherever the claim would reach the directory (create, publish, portal session).
  "tenant_admin (owning tenant, contradicting partner claim)": () =>
    consoleToken("tenant_admin", OWNER_TENANT, "prt_mx_claimed"),
  "tenant_admin (another tenant, same partner)": () => consoleToken("tenant_admin", "tnt_mx_other", OWNER_PARTNER),
  "platform_token (admin:read admin:write)": () => platformToken(),
  "platform_token (admin:read)": () => platformToken("admin:read"),
  "platform_token without admin scope": () => platformToken("openid profile"),
  "no role, webhooks:read (owning tenant)": () => noRole("webhooks:read"),
  "no role, webhooks:write (owning tenant)": () => noRole("webhooks:write"),
  "no role, webhooks:publish (owning tenant)": () => noRole("webhooks:publish"),
  "no role, admin scopes, not a platform token": () => noRole("admin:read admin:write"),
  "no token": async () => undefined,
};
type Role = keyof typeof ROLES;

// Columns, in the order of ENDPOINTS: list, list without "/", create, create without "/", events, get, update,
// delete, deliveries, delivery, retry, test, rotate, stats, operations, recover, replay, portal session, assign tenant
// partner, publish, health.
// biome-ignore format: a table
const MATRIX: [Role, ...number[]][] = [
  //                                                         list  /   create /  events get upd  del  dlvs dlv  retry test rot stats ops  recov replay portal assign publish health
  ["super_admin (console)",                                   200, 307, 201, 307, 200, 200, 200, 204, 200, 200, 200, 200, 200, 200, 200, 202, 202, 201, 200, 202, 200],
  ["partner_admin (owning partner, console)",                 200, 307, 201, 307, 200, 200, 200, 204, 200, 200, 200, 200, 200, 200, 403, 202, 202, 201, 403, 202, 200],
  ["partner_admin (another partner, console)",                200, 307, 403, 307, 200, 404, 404, 404, 404, 404, 404, 404, 404, 404, 403, 404, 404, 403, 403, 403, 200],
  ["tenant_admin (owning tenant, console, no partner claim)",  200, 307, 201, 307, 200, 200, 200, 204, 200, 200, 200, 200, 200, 200, 403, 202, 202, 201, 403, 202, 200],
  ["tenant_admin (owning tenant, with partner claim)",        200, 307, 201, 307, 200, 200, 200, 204, 200, 200, 200, 200, 200, 200, 403, 202, 202, 201, 403, 202, 200],
  ["tenant_admin (owning tenant, contradicting partner claim)", 200, 307, 403, 307, 200, 200, 200, 204, 200, 200, 200, 200, 200, 200, 403, 202, 202, 403, 403, 403, 200],
  ["tenant_admin (another tenant, same partner)",             200, 307, 403, 307, 200, 404, 404, 404, 404, 404, 404, 404, 404, 404, 403, 404, 404, 403, 403, 403, 200],
  ["platform_token (admin:read admin:write)",                 200, 307, 201, 307, 200, 200, 200, 204, 200, 200, 200, 200, 200, 200, 200, 202, 202, 201, 200, 202, 200],
  ["platform_token (admin:read)",                             200, 307, 403, 307, 200, 200, 403, 403, 200, 200, 403, 403, 403, 200, 200, 403, 403, 403, 403, 403, 200],
  ["platform_token without admin scope",                      403, 307, 403, 307, 403, 403, 403, 403, 403, 403, 403, 403, 403, 403, 403, 403, 403, 403, 403, 403, 200],
  ["no role, webhooks:read (owning tenant)",                  200, 307, 403, 307, 200, 200, 403, 403, 200, 200, 403, 403, 403, 200, 403, 403, 403, 403, 403, 403, 200],
  ["no role, webhooks:write (owning tenant)",                 200, 307, 201, 307, 200, 200, 200, 204, 200, 200, 200, 200, 200, 200, 403, 202, 202, 201, 403, 403, 200],
  ["no role, webhooks:publish (owning tenant)",               403, 307, 403, 307, 403, 403, 403, 403, 403, 403, 403, 403, 403, 403, 403, 403, 403, 403, 403, 202, 200],
  ["no role, admin scopes, not a platform token",             403, 307, 403, 307, 403, 403, 403, 403, 403, 403, 403, 403, 403, 403, 403, 403, 403, 403, 403, 403, 200],
  ["no token",                                                401, 307, 401, 307, 401, 401, 401, 401, 401, 401, 401, 401, 401, 401, 401, 401, 401, 401, 401, 401, 200],
];

const CELLS = MATRIX.flatMap(([role, ...statuses]) =>
  COLUMNS.map((endpoint, i) => ({ role, endpoint, status: statuses[i]! })),
);

describe("authorization matrix", () => {
  it("has one row per role and one cell per column in each", () => {
    expect(MATRIX.map(([role]) => role)).toEqual(Object.keys(ROLES));
    for (const [, ...statuses] of MATRIX) expect(statuses).toHaveLength(COLUMNS.length);
  });

  it("has a column for every operation of the OpenAPI document, calling it by its method and path", async () => {
    const document = (await api("GET", "/openapi.json")).body as OpenApiDocument;
    expect(matrixGaps(document, ENDPOINTS)).toEqual([]);
  });

  it("fails when an operation is added without a column", async () => {
    const document = structuredClone((await api("GET", "/openapi.json")).body as OpenApiDocument);
    document.paths[`${WEBHOOKS}/{webhook_id}/pause`] = { post: { operationId: "pauseWebhook" } };
    const gaps = matrixGaps(document, ENDPOINTS);
    expect(gaps).toEqual([`no column for pauseWebhook (POST ${WEBHOOKS}/{webhook_id}/pause)`]);
    expect(() => expect(gaps).toEqual([])).toThrow(); // what the test above would do
    // A column left behind by a removed operation, or calling another path, fails too.
    delete document.paths[`${WEBHOOKS}/{webhook_id}/stats`];
    expect(matrixGaps(document, ENDPOINTS)).toContain("column getWebhookStats is no operation of the document");
    expect(
      matrixGaps(document, {
        ...ENDPOINTS,
        getWebhook: { method: "GET", path: (f) => `${WEBHOOKS}/${f.webhookId}/x` },
      }),
    ).toContain(`column getWebhook calls GET ${WEBHOOKS}/wh_sample/x, not GET ${WEBHOOKS}/{webhook_id}`);
  });

  describe.each(COLUMNS)("%s", (endpoint) => {
    it.each(CELLS.filter((c) => c.endpoint === endpoint))("$role → $status", async ({ role, status }) => {
      const call: Endpoint = ENDPOINTS[endpoint];
      const f = await fixture();
      const before = await snapshot(f);
      const res = await api(call.method, call.path(f), { token: await ROLES[role]!(), body: call.body?.() });
      expect(res.status, JSON.stringify(res.body)).toBe(status);
      if (status === 204) expect(res.body).toBeNull();
      else if (status === 307) expect(res.headers.get("location")).toBe(`https://webhooks.test${call.path(f)}/`);
      else expect(res.body).toBeTypeOf("object");
      if (status >= 400) {
        expect(res.body).toEqual({ detail: expect.any(String) });
        // A refused call changes nothing of what it addressed.
        expect(await snapshot(f)).toEqual(before);
      }
      if (status === 401) expect(res.headers.get("www-authenticate")).toMatch(/^Bearer /);
      if (status === 404) expect(res.body).toEqual({ detail: "Webhook not found" });
      if (status === 403 && role.startsWith("platform_token without"))
        expect(res.body).toEqual({ detail: "Platform token requires admin:read or admin:write scope" });
      if (endpoint === "getWebhookOperations" && status === 403 && /^(tenant|partner)_admin/.test(role))
        expect(res.body.detail).toBe("Only a super admin or a platform token may view the operations of the service");
      // The allowed test and retry calls really reach (or re-queue for) the local receiver.
      if (endpoint === "sendWebhookTestEvent" && status === 200)
        expect(res.body).toMatchObject({ success: true, status_code: 200 });
      if (endpoint === "retryWebhookDelivery" && status === 200)
        expect(res.body).toMatchObject({ id: f.deliveryId, status: "pending" });
      if (endpoint === "recoverWebhookDeliveries" && status === 202)
        expect(res.body).toMatchObject({ webhook_id: f.webhookId, deliveries: 1 });
    });
  });
});

async function snapshot(f: Fixture) {
  // The delivery row holds its attempts; the webhook's deliveries count a test event's new one.
  // The webhook's rows in its own shard; the counts over every shard (a refused request changes none of them).
  const d1 = d1OfWebhook(f.webhookId);
  const [endpoint, delivery, deliveries, endpoints, events, stats, directory] = await Promise.all([
    d1.prepare("SELECT * FROM webhook_endpoints WHERE id = ?").bind(f.webhookId).first(),
    d1.prepare("SELECT * FROM deliveries_live WHERE webhook_id = ? AND id = ?").bind(f.webhookId, f.deliveryId).first(),
    d1.prepare("SELECT COUNT(*) AS n FROM deliveries_live WHERE webhook_id = ?").bind(f.webhookId).first(),
    allShardRows("SELECT COUNT(*) AS n FROM webhook_endpoints"),
    allShardRows("SELECT COUNT(*) AS n FROM events_live"),
    d1.prepare("SELECT COUNT(*) AS n FROM webhook_stats_hourly WHERE webhook_id = ?").bind(f.webhookId).first(),
    d1.prepare("SELECT partner_id, source FROM tenant_partners WHERE tenant_id = ?").bind(OWNER_TENANT).first(),
  ]);
  return { endpoint, delivery, deliveries, endpoints, events, stats, directory };
}

// Webhooks of the owning tenant created by each kind of admin: who sees them is the same whoever created them.
const CREATORS: Record<string, () => Promise<string>> = {
  "tenant admin": () => consoleToken("tenant_admin", OWNER_TENANT, null),
  "partner admin": () => consoleToken("partner_admin", null, OWNER_PARTNER),
  "super admin": () => consoleToken("super_admin", null, null),
};
// prettier-ignore
const SEEN_BY: [Role, number][] = [
  ["super_admin (console)", 200],
  ["partner_admin (owning partner, console)", 200],
  ["partner_admin (another partner, console)", 404],
  ["tenant_admin (owning tenant, console, no partner claim)", 200],
  ["tenant_admin (another tenant, same partner)", 404],
  ["platform_token (admin:read)", 200],
  ["no role, webhooks:read (owning tenant)", 200],
];

describe.each(Object.keys(CREATORS))("a webhook created by a %s", (creator) => {
  it.each(SEEN_BY)("%s → GET %i, and in its list only if it sees it", async (role, status) => {
    const f = await fixture(CREATORS[creator]!);
    const token = await ROLES[role]!();
    const got = await api("GET", `${WEBHOOKS}/${f.webhookId}`, { token });
    expect(got.status).toBe(status);
    if (status === 200) expect(got.body).toMatchObject({ tenant_id: OWNER_TENANT, partner_id: OWNER_PARTNER });
    const listed = await api("GET", `${WEBHOOKS}/?per_page=100`, { token });
    expect(listed.body.items.some((w: { id: string }) => w.id === f.webhookId)).toBe(status === 200);
  });
});

describe("owner claims a caller cannot make", () => {
  it("a partner admin cannot subscribe to a tenant of another partner", async () => {
    const hook = hookUrl();
    const res = await api("POST", `${WEBHOOKS}/`, {
      token: await partnerAdmin("prt_mx_thief"),
      body: { url: hook.url, events: ["*"], tenant_id: OWNER_TENANT },
    });
    expect(res.status).toBe(403);
  });

  it.each([
    [
      "a tenant admin names another partner",
      () => consoleToken("tenant_admin", OWNER_TENANT, null),
      { partner_id: "prt_mx_forged" },
    ],
    [
      "a partner admin names its own partner for another partner's tenant",
      () => partnerAdmin("prt_mx_thief"),
      { partner_id: "prt_mx_thief" },
    ],
  ])("publishing: %s → 403, nothing stored", async (_label, token, owner) => {
    const eventId = `evt_mx_forged_${crypto.randomUUID().slice(0, 8)}`;
    const body = { ...(ENDPOINTS.publishEvent.body() as Record<string, unknown>), event_id: eventId, ...owner };
    const res = await api("POST", "/api/v1/events", { token: await token(), body });
    expect(res.status).toBe(403);
    expect(await allShardRows("SELECT event_id FROM events_live WHERE event_id = ?", eventId)).toEqual([]);
  });
});
