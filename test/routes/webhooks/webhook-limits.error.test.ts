// MAX_WEBHOOKS_PER_OWNER (100 by default): an owner's live webhooks are capped, so one publish fans out to a bounded
// number of them. Creating the 101st, or moving a webhook into a full owner, is a 422 that names the limit.
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { readConfig } from "../../../src/lib/config";
import { api, createWebhook, WEBHOOKS } from "../../helpers/api";
import { seedLiveWebhooks } from "../../helpers/deliveries";
import { firstOfOwner, placeOwner } from "../../helpers/shards";
import { partnerAdmin, superAdmin, tenantAdmin } from "../../helpers/tokens";

const uid = () => crypto.randomUUID().replaceAll("-", "").slice(0, 10);
const URL_ = "https://receiver.example.com/hook";
const limitMessage = (owner: string) =>
  `${owner} already has 100 webhooks, the most one owner may have (MAX_WEBHOOKS_PER_OWNER = 100); delete one first`;
const create = (token: string, body: Record<string, unknown> = {}) =>
  api("POST", `${WEBHOOKS}/`, { token, body: { url: URL_, events: ["*"], ...body } });
const live = async (column: "tenant_id" | "partner_id", owner: string) =>
  (await firstOfOwner<{ n: number }>(
    column === "tenant_id" ? `t:${owner}` : `p:${owner}`,
    `SELECT count(*) AS n FROM webhook_endpoints WHERE ${column} = ? AND deleted_at IS NULL${column === "partner_id" ? " AND tenant_id IS NULL" : ""}`,
    owner,
  ))!.n;

describe("webhooks per owner", () => {
  it("defaults to 100, as wrangler.toml sets it", () => {
    expect(readConfig(env).maxWebhooksPerOwner).toBe(100);
    expect(readConfig({ ...env, MAX_WEBHOOKS_PER_OWNER: undefined } as unknown as Env).maxWebhooksPerOwner).toBe(100);
    expect(() => readConfig({ ...env, MAX_WEBHOOKS_PER_OWNER: "0" })).toThrow(/MAX_WEBHOOKS_PER_OWNER/);
  });

  it("the 101st create of a tenant is a 422 naming the limit; deleted webhooks do not count", async () => {
    const tenant = `tnt_cap${uid()}`;
    const token = await tenantAdmin(tenant);
    const ids: string[] = [];
    for (let i = 0; i < 100; i++) ids.push((await createWebhook(token, { url: `${URL_}/${i}` })).id);
    const refused = await create(token);
    expect(refused.status).toBe(422);
    expect(refused.body).toEqual({
      detail: [
        {
          type: "value_error",
          loc: ["body"],
          msg: `Value error, ${limitMessage(`Tenant ${tenant}`)}`,
          input: expect.objectContaining({ url: expect.any(String) }),
          ctx: { error: {} },
        },
      ],
    });
    expect(await live("tenant_id", tenant)).toBe(100);
    // Another tenant is not affected.
    expect((await create(await tenantAdmin(`${tenant}_next`))).status).toBe(201);
    // A deleted webhook frees its place.
    expect((await api("DELETE", `${WEBHOOKS}/${ids[0]}`, { token })).status).toBe(204);
    expect((await create(token)).status).toBe(201);
    expect((await create(token)).status).toBe(422);
  });

  it("concurrent creates never pass the limit together", async () => {
    const tenant = `tnt_race${uid()}`;
    await seedLiveWebhooks(tenant, 95);
    const token = await tenantAdmin(tenant);
    const results = await Promise.all(Array.from({ length: 12 }, (_, i) => create(token, { url: `${URL_}/${i}` })));
    expect(results.filter((r) => r.status === 201)).toHaveLength(5);
    expect(results.filter((r) => r.status === 422)).toHaveLength(7);
    expect(await live("tenant_id", tenant)).toBe(100);
  });

  it("a partner's partner-level webhooks are one owner, apart from its tenants'", async () => {
    const partner = `prt_cap${uid()}`;
    await placeOwner(`p:${partner}`, 0); // its webhooks are written in shard 0 below
    await env.DB.prepare(
      `WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k WHERE i < 100)
       INSERT INTO webhook_endpoints (id, partner_id, url, events, secret, created_at, updated_at)
       SELECT 'wh_pcap_' || ?1 || '_' || i, ?1, 'https://x.example.com/', '[]', 's', 1, 1 FROM k`,
    )
      .bind(partner)
      .run();
    const admin = await partnerAdmin(partner);
    const refused = await create(admin);
    expect(refused.status).toBe(422);
    expect(refused.body.detail[0].msg).toBe(`Value error, ${limitMessage(`Partner ${partner}`)}`);
    // One of its tenants still has room of its own.
    const tenant = `tnt_ofcap${uid()}`;
    await api("PUT", `${WEBHOOKS}/tenants/${tenant}/partner`, {
      token: await superAdmin(),
      body: { partner_id: partner },
    });
    expect((await create(admin, { tenant_id: tenant })).status).toBe(201);
    expect(await live("partner_id", partner)).toBe(100);
  });

  it("moving a webhook into a full owner is a 422, and changes nothing", async () => {
    const full = `tnt_full${uid()}`;
    await seedLiveWebhooks(full, 100);
    const admin = await superAdmin();
    // In the full owner's shard: a webhook never changes shard (test/db/shards.test.ts holds that refusal).
    const from = `tnt_from${uid()}`;
    await placeOwner(`t:${from}`, 0);
    const wh = await createWebhook(admin, { tenant_id: from });
    const moved = await api("PATCH", `${WEBHOOKS}/${wh.id}`, { token: admin, body: { tenant_id: full } });
    expect(moved.status).toBe(422);
    expect(moved.body.detail[0].msg).toBe(`Value error, ${limitMessage(`Tenant ${full}`)}`);
    expect((await api("GET", `${WEBHOOKS}/${wh.id}`, { token: admin })).body).toMatchObject({
      tenant_id: wh.tenant_id,
      updated_at: wh.updated_at,
    });
    // Changing anything else of a webhook of a full owner is not a move.
    const inside = (await firstOfOwner<{ id: string }>(
      `t:${full}`,
      "SELECT id FROM webhook_endpoints WHERE tenant_id = ? LIMIT 1",
      full,
    ))!.id;
    const edited = await api("PATCH", `${WEBHOOKS}/${inside}`, {
      token: admin,
      body: { description: "still here", tenant_id: full },
    });
    expect(edited.status).toBe(200);
  });
});

describe("the count behind the limit", () => {
  it("reads only the owner's live webhooks, from the live-owner index", async () => {
    const plan = async (sql: string, ...params: unknown[]) =>
      (
        await env.DB.prepare(`EXPLAIN QUERY PLAN ${sql}`)
          .bind(...params)
          .all<{ detail: string }>()
      ).results.map((r) => r.detail);
    expect(
      await plan("SELECT count(*) FROM webhook_endpoints o WHERE o.tenant_id = ? AND o.deleted_at IS NULL", "tnt_x"),
    ).toEqual(["SEARCH o USING INDEX webhook_endpoints_live_owner_idx (tenant_id=?)"]);
    expect(
      await plan(
        "SELECT count(*) FROM webhook_endpoints o WHERE o.tenant_id IS NULL AND o.partner_id = ? AND o.deleted_at IS NULL",
        "prt_x",
      ),
    ).toEqual(["SEARCH o USING INDEX webhook_endpoints_live_owner_idx (tenant_id=? AND partner_id=?)"]);
  });
});
