// The directory's queries stay on indexes: fan-out, partner lists and the visibility lookup never scan every webhook.
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { createDb } from "../../src/db/client";
import { ensureCurrentPartitions } from "../../src/db/partitions";
import { completeEnvelope, storeEvent } from "../../src/domain/publish";
import { tenantDirectory } from "../../src/domain/tenant-directory";
import { listWebhooks } from "../../src/domain/webhooks";
import { rootDeps, statementsSent } from "../helpers/deliveries";
import { queryPlansOf } from "../helpers/pipeline";

async function plan(sql: string, ...params: unknown[]): Promise<string[]> {
  const { results } = await env.DB.prepare(`EXPLAIN QUERY PLAN ${sql}`)
    .bind(...params)
    .all<{ detail: string }>();
  return results.map((r) => r.detail);
}
const scansWebhooks = (details: string[]) => details.some((d) => /^SCAN (w|webhook_endpoints)\b/.test(d));

describe("query plans", () => {
  it("fan-out reads only the live webhooks of the event's owners, by index, and the partition through its keys", async () => {
    const now = Date.now();
    await ensureCurrentPartitions(env.DB, now);
    const envelope = completeEnvelope(
      { event_type: "user.created", tenant_id: "tnt_plan", resource: { type: "user", id: "usr_1" }, data: {} },
      now,
    );
    const plans = await queryPlansOf((d1) => storeEvent(createDb(d1), envelope, now));
    const [countMissed, partnerShare, insertEvent, fanOut] = plans;
    expect(countMissed!.sql).toMatch(/^UPDATE webhook_endpoints AS w SET missed_events/);
    // The partner's share (its webhooks in another shard): the tenant's directory entry, by its key.
    expect(partnerShare!.sql).toMatch(/^INSERT INTO partner_fanouts/);
    expect(partnerShare!.plan).toContain("SEARCH d USING INDEX sqlite_autoindex_tenant_partners_1 (tenant_id=?)");
    expect(insertEvent!.sql).toMatch(/^INSERT INTO "events_p\d+"/);
    expect(fanOut!.sql).toMatch(/^INSERT INTO "deliveries_p\d+"/);
    for (const { plan: details } of [countMissed!, fanOut!]) {
      expect(scansWebhooks(details), details.join("\n")).toBe(false);
      // Both through the live-owner index: the tenant's live webhooks, and exactly its partner's live partner-level
      // ones (tenant_id IS NULL AND partner_id = ?), not every webhook of the partner's tenants.
      expect(details).toContain("SEARCH w USING INDEX webhook_endpoints_live_owner_idx (tenant_id=?)");
      expect(details).toContain("SEARCH w USING INDEX webhook_endpoints_live_owner_idx (tenant_id=? AND partner_id=?)");
    }
    // Whether the event is stored: its key in every table; a new delivery's id and the same-millisecond guard: the
    // partition's primary key.
    for (const { plan: details } of plans)
      expect(details.filter((d) => /^SCAN (?!r\b|s\b|CONSTANT)/.test(d))).toEqual([]);
    expect(insertEvent!.plan.filter((d) => d.startsWith("SEARCH e"))).toEqual(
      expect.arrayContaining([expect.stringMatching(/USING PRIMARY KEY \(owner_key=\? AND event_id=\?\)/)]),
    );
    expect(fanOut!.plan).toContain("SEARCH x USING PRIMARY KEY (webhook_id=?)");
    expect(fanOut!.plan).toContain("SEARCH x USING PRIMARY KEY (webhook_id=? AND id>?)");
  });

  it("a partner's list uses the partner index and the directory's key", async () => {
    // The statements listWebhooks really sends: the page, then the count.
    const sent = await statementsSent((d1) =>
      listWebhooks(createDb(d1), { partnerId: "prt_plan" }, { page: 1, perPage: 20 }),
    );
    expect(sent).toHaveLength(2);
    for (const { sql, params } of sent) {
      const details = await plan(sql, ...params);
      expect(scansWebhooks(details), details.join("\n")).toBe(false);
      expect(details.join("\n")).toMatch(/SEARCH d USING INDEX sqlite_autoindex_tenant_partners_1 \(tenant_id=\?\)/);
    }
  });
});

describe("assign", () => {
  it("moves only the tenant's endpoints whose partner differs, and re-stating changes nothing", async () => {
    const now = 1_700_000_000_000;
    await env.DB.batch([
      env.DB.prepare(
        "INSERT INTO webhook_endpoints (id, tenant_id, partner_id, url, events, secret, created_at, updated_at) VALUES ('wh_mv1', 'tnt_mv', NULL, 'https://x.example.com/', '[]', 's', 1, 1)",
      ),
      env.DB.prepare(
        "INSERT INTO webhook_endpoints (id, tenant_id, partner_id, url, events, secret, created_at, updated_at) VALUES ('wh_mv2', 'tnt_mv', 'prt_old', 'https://x.example.com/', '[]', 's', 1, 1)",
      ),
      env.DB.prepare(
        "INSERT INTO webhook_endpoints (id, tenant_id, partner_id, url, events, secret, created_at, updated_at) VALUES ('wh_mv3', 'tnt_other', 'prt_old', 'https://x.example.com/', '[]', 's', 1, 1)",
      ),
    ]);
    const directory = tenantDirectory(rootDeps(() => now));
    expect(await directory.assign("tnt_mv", "prt_new", "admin")).toEqual({
      tenant_id: "tnt_mv",
      partner_id: "prt_new",
      moved_webhooks: 2,
    });
    expect(await directory.assign("tnt_mv", "prt_new", "service")).toEqual({
      tenant_id: "tnt_mv",
      partner_id: "prt_new",
      moved_webhooks: 0,
    });
    const { results } = await env.DB.prepare(
      "SELECT id, partner_id FROM webhook_endpoints WHERE id LIKE 'wh_mv%' ORDER BY id",
    ).all();
    expect(results).toEqual([
      { id: "wh_mv1", partner_id: "prt_new" },
      { id: "wh_mv2", partner_id: "prt_new" },
      { id: "wh_mv3", partner_id: "prt_old" },
    ]);
    // Re-stating the same partner keeps the first source and time.
    expect(
      await env.DB.prepare("SELECT source, updated_at FROM tenant_partners WHERE tenant_id = 'tnt_mv'").first(),
    ).toEqual({ source: "admin", updated_at: now });
    expect(await tenantDirectory(rootDeps(() => now)).partnerOf("tnt_mv")).toBe("prt_new");
    expect(await tenantDirectory(rootDeps(() => now)).partnerOf("tnt_unknown")).toBeNull();
  });
});

describe("learn", () => {
  it("fills an empty entry and brings the tenant's endpoints along, and never moves an entry", async () => {
    const now = 1_700_000_000_000;
    await env.DB.prepare(
      "INSERT INTO webhook_endpoints (id, tenant_id, partner_id, url, events, secret, created_at, updated_at) VALUES ('wh_ln1', 'tnt_ln', NULL, 'https://x.example.com/', '[]', 's', 1, 1)",
    ).run();
    const directory = tenantDirectory(rootDeps(() => now));
    expect(await directory.learn({ tenantId: "tnt_ln", partnerId: "prt_first", source: "token" })).toBe("prt_first");
    expect(await directory.learn({ tenantId: "tnt_ln", partnerId: "prt_second", source: "event" })).toBe("prt_first");
    expect(await tenantDirectory(rootDeps(() => now)).partnerOf("tnt_ln")).toBe("prt_first");
    expect(
      await env.DB.prepare("SELECT partner_id, source FROM tenant_partners WHERE tenant_id = 'tnt_ln'").first(),
    ).toEqual({ partner_id: "prt_first", source: "token" });
    expect(await env.DB.prepare("SELECT partner_id FROM webhook_endpoints WHERE id = 'wh_ln1'").first()).toEqual({
      partner_id: "prt_first",
    });
    // Only the platform's assign moves it.
    expect(await directory.assign("tnt_ln", "prt_second", "admin")).toMatchObject({ moved_webhooks: 1 });
    expect(await directory.learn({ tenantId: "tnt_ln", partnerId: "prt_first", source: "token" })).toBe("prt_second");
  });
});
