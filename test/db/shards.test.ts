// The one module that chooses a shard (src/db/shards.ts): the shard a webhook id names, where the directory puts a new
// owner, the cron jobs' walk over every shard, and each shard's part of the archive.
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import {
  acceptingShards,
  forEachShard,
  newOwnerShard,
  onShard,
  ownerHash,
  placeOwner,
  SHARD_CONCURRENCY,
  type ShardScoped,
  shardArchive,
  shardDatabases,
  shardOfWebhook,
  webhookIdPrefix,
} from "../../src/db/shards";
import { newWebhookId } from "../../src/lib/ids";
import { createServices } from "../../src/lib/services";
import { shardD1s, shardOfOwner } from "../helpers/shards";

const uid = () => crypto.randomUUID().replaceAll("-", "").slice(0, 10);
/** A deployment of `n` shards, as far as choosing one goes (the handles are never used). */
const deployment = (n: number): ShardScoped => {
  const real = createServices(env);
  return { ...real, shards: Array.from({ length: n }, (_, i) => real.shards[i % real.shards.length]!) };
};

describe("the bindings", () => {
  it("are DB, DB_1, DB_2 … without gaps: two in wrangler.toml, and DB alone is one shard", () => {
    expect(shardD1s()).toHaveLength(2);
    expect(shardDatabases({ DB: env.DB })).toEqual([env.DB]);
    expect(shardDatabases({ DB: env.DB, DB_1: env.DB_1, DB_3: env.DB })).toEqual([env.DB, env.DB_1]);
    expect(createServices({ ...env, DB_1: undefined } as unknown as Env).shards).toHaveLength(1);
  });
});

describe("a webhook's id", () => {
  it("names its shard: untagged (every id from before shards) is shard 0, wh_<n>_ is shard n", () => {
    for (const shard of [0, 1, 7, 255]) {
      const id = newWebhookId(webhookIdPrefix(shard));
      expect(shardOfWebhook(id)).toBe(shard);
      expect(id).toMatch(shard === 0 ? /^wh_[0-9A-Za-z]{20}$/ : new RegExp(`^wh_${shard}_[0-9A-Za-z]{20}$`));
    }
    expect(shardOfWebhook("wh_4n8XbQ2kLm9Pz7Rt1VcY")).toBe(0);
    expect(shardOfWebhook("wh_1_x")).toBe(1);
    // Not a tag: anything else is an id of shard 0, where an unknown id is simply not found.
    for (const id of ["wh_x_1", "wh_1x_a", "wh_", "", "1_wh", "wh_1234_a"]) expect(shardOfWebhook(id)).toBe(0);
  });
});

describe("where a new owner goes", () => {
  it("by the fixed hash of its key among the shards that take new owners; the same key, the same shard", () => {
    const two = deployment(2);
    const counts = [0, 0];
    for (let i = 0; i < 400; i++) {
      const owner = `t:tnt_spread_${i}`;
      const shard = newOwnerShard(two, { newOwnerShards: null }, owner, null);
      expect(shard).toBe(ownerHash(owner) % 2);
      expect(newOwnerShard(two, { newOwnerShards: null }, owner, null)).toBe(shard);
      counts[shard]!++;
    }
    // Spread, not piled on one shard.
    expect(Math.min(...counts)).toBeGreaterThan(150);
    // NEW_OWNER_SHARDS narrows the choice (a full shard leaves the list; a new one joins it).
    for (let i = 0; i < 50; i++)
      expect([1, 3]).toContain(newOwnerShard(deployment(4), { newOwnerShards: [1, 3] }, `t:tnt_only_${i}`, null));
    expect(acceptingShards(deployment(2), { newOwnerShards: [1, 5] })).toEqual([1]);
    expect(() => acceptingShards(deployment(2), { newOwnerShards: [5] })).toThrow(/NEW_OWNER_SHARDS/);
  });

  it("a tenant whose partner is known joins the partner's shard while that shard takes new owners", () => {
    const three = deployment(3);
    expect(newOwnerShard(three, { newOwnerShards: null }, "t:tnt_with_partner", 2)).toBe(2);
    // The partner's shard is full: the tenant goes by the hash among the others.
    const owner = "t:tnt_spill";
    expect(newOwnerShard(three, { newOwnerShards: [0, 1] }, owner, 2)).toBe([0, 1][ownerHash(owner) % 2]);
  });

  it("is written once, in shard 0's directory, and never moves: a changed NEW_OWNER_SHARDS places only new owners", async () => {
    const services = createServices(env);
    const first = `t:tnt_place_${uid()}`;
    const only1 = { ...services, config: { ...services.config, newOwnerShards: [1] } };
    const only0 = { ...services, config: { ...services.config, newOwnerShards: [0] } };
    expect(await placeOwner(only1, first)).toBe(1);
    expect(await placeOwner(only0, first)).toBe(1);
    expect(await shardOfOwner(first)).toBe(1);
    const second = `t:tnt_place_${uid()}`;
    expect(await placeOwner(only0, second)).toBe(0);
    // A tenant placed with its partner: the partner first (by its hash), then the tenant beside it.
    const partner = `prt_place_${uid()}`;
    const tenant = `t:tnt_place_${uid()}`;
    const tenantShard = await placeOwner(services, tenant, partner);
    expect(await shardOfOwner(`p:${partner}`)).toBe(ownerHash(`p:${partner}`) % 2);
    expect(tenantShard).toBe(await shardOfOwner(`p:${partner}`));
    expect(
      (await env.DB_1.prepare("SELECT count(*) AS n FROM owner_shards").first<{ n: number }>())!.n,
      "the directory lives in shard 0 only",
    ).toBe(0);
  });

  it("two requests placing one owner at once both end with the first one's shard", async () => {
    const services = createServices(env);
    const owner = `t:tnt_race_${uid()}`;
    const [a, b] = await Promise.all([
      placeOwner({ ...services, config: { ...services.config, newOwnerShards: [0] } }, owner),
      placeOwner({ ...services, config: { ...services.config, newOwnerShards: [1] } }, owner),
    ]);
    expect(a).toBe(b);
    expect(await shardOfOwner(owner)).toBe(a);
  });
});

describe("every shard, within the time box", () => {
  it("visits each shard once, starting from a shard that moves on every run", async () => {
    const services = deployment(3);
    for (const turn of [0, 1, 2, 3]) {
      const order: number[] = [];
      const results = await forEachShard(services, 1000, turn, async (shard) => {
        order.push(shard.shard ?? 0);
        return (shard.shard ?? 0) * 10;
      });
      expect(order).toEqual([0, 1, 2].map((i) => (i + turn) % 3));
      expect(results).toEqual([0, 10, 20]);
    }
  });

  it("gives each shard the whole box while they fit in one wave, and a share of it beyond", async () => {
    const budgets = async (n: number) => {
      const seen: number[] = [];
      await forEachShard(deployment(n), 60_000, 0, async (_shard, budgetMs) => void seen.push(budgetMs));
      return seen;
    };
    expect(await budgets(2)).toEqual([60_000, 60_000]);
    const many = SHARD_CONCURRENCY * 2;
    expect(new Set(await budgets(many))).toEqual(new Set([30_000]));
  });

  it("a slow shard holds only its own slot; a failing one stops no other, and the run throws once all had their turn", async () => {
    const n = SHARD_CONCURRENCY + 2;
    const services = deployment(n);
    let releaseSlow!: () => void;
    const slow = new Promise<void>((resolve) => (releaseSlow = resolve));
    const done: number[] = [];
    const run = forEachShard(services, 1000, 0, async (shard) => {
      const i = shard.shard ?? 0;
      if (i === 0) await slow;
      if (i === 1) throw new Error("D1_ERROR: shard 1 is down");
      done.push(i);
    });
    // Every other shard finishes while shard 0 is still waiting.
    for (let tries = 0; tries < 100 && done.length < n - 2; tries++) await new Promise((r) => setTimeout(r, 5));
    expect(done.sort((a, b) => a - b)).toEqual(Array.from({ length: n - 2 }, (_, i) => i + 2));
    releaseSlow();
    await expect(run).rejects.toThrow(/shard 1 is down/);
    expect(done).toContain(0);
  });
});

describe("a shard's part of the archive", () => {
  it("keeps shard n's objects under s<n>/ of the one bucket, shard 0's at its root", async () => {
    const key = `test/${uid()}.ndjson`;
    const one = shardArchive(env.ARCHIVE, 1)!;
    await one.put(key, "from shard 1");
    await shardArchive(env.ARCHIVE, 0)!.put(key, "from shard 0");
    expect(await (await one.get(key))!.text()).toBe("from shard 1");
    expect(await (await env.ARCHIVE.get(`s1/${key}`))!.text()).toBe("from shard 1");
    expect(await (await env.ARCHIVE.get(key))!.text()).toBe("from shard 0");
    expect(await (await one.get(key, { range: { offset: 5, length: 5 } }))!.text()).toBe("shard");
    expect((await one.list({ prefix: "test/" })).objects.map((o) => o.key)).toContain(key);
    await one.delete([key]);
    expect(await one.head(key)).toBeNull();
    expect(await env.ARCHIVE.head(key)).not.toBeNull();
    expect(onShard(createServices(env), 1).archive).not.toBe(env.ARCHIVE);
  });
});
