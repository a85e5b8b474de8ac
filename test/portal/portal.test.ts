// The portal through the Worker's fetch handler: magic links, the session cookie, CSRF, and the same authorization as the API.
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { createDb } from "../../src/db/client";
import { createPartitions, hourOf, listPartitionHours, tablesOf } from "../../src/db/partitions";
import { listDeliveryHistory } from "../../src/domain/deliveries";
import { attemptDelivery } from "../../src/domain/delivery/attempt";
import { hashPortalToken, purgeExpiredPortalSessions } from "../../src/domain/portal-sessions";
import { api, createWebhook, WEBHOOKS } from "../helpers/api";
import { deliveryDeps, eventuallySucceeds, QUICK_RETRIES, seedDelivery } from "../helpers/deliveries";
import { queryPlansOf } from "../helpers/pipeline";
import { issueLink, PortalVisitor, textOf } from "../helpers/portal";
import { hookUrl } from "../helpers/receiver";
import { d1OfWebhook } from "../helpers/shards";
import { tenantAdmin } from "../helpers/tokens";

const db = createDb(env.DB);
const tokenOf = (url: string) => url.slice(url.lastIndexOf("/") + 1);

describe("magic links", () => {
  it("open once: a Secure HttpOnly SameSite=Strict cookie, then a same-site hop to /portal/ without the token", async () => {
    const url = await issueLink(await tenantAdmin("tnt_pl1"));
    const visitor = new PortalVisitor();
    const res = await visitor.open(url);
    expect(res.status).toBe(200);
    const cookie = res.headers.get("set-cookie")!;
    expect(cookie).toMatch(/^__Host-scaikey-portal=[A-Za-z0-9_-]{43};/);
    expect(cookie).toMatch(/HttpOnly/);
    expect(cookie).toMatch(/Secure/);
    expect(cookie).toMatch(/SameSite=Strict/);
    expect(cookie).toMatch(/Path=\//);
    expect(res.headers.get("refresh")).toBe("0; url=/portal");
    expect(res.headers.get("referrer-policy")).toBe("no-referrer");
    const home = await visitor.open("/portal");
    expect(home.status).toBe(200);
    expect(home.html).toContain("Tenant tnt_pl1");
  });

  it("stores only hashes of the link and session tokens", async () => {
    const url = await issueLink(await tenantAdmin("tnt_pl1"));
    const visitor = new PortalVisitor();
    await visitor.open(url);
    const sessionToken = visitor.cookie.split("=")[1]!;
    const rows = await env.DB.prepare("SELECT link_hash, session_hash FROM portal_sessions WHERE link_hash = ?")
      .bind(await hashPortalToken(tokenOf(url)))
      .all();
    expect(rows.results).toHaveLength(1);
    expect(rows.results[0]!.session_hash).toBe(await hashPortalToken(sessionToken));
    const dump = JSON.stringify((await env.DB.prepare("SELECT * FROM portal_sessions").all()).results);
    expect(dump).not.toContain(tokenOf(url));
    expect(dump).not.toContain(sessionToken);
  });

  it("a reused link gets a clear 410 page, and so does an expired one; a made-up one a 404", async () => {
    const url = await issueLink(await tenantAdmin("tnt_pl1"));
    await new PortalVisitor().open(url);
    const again = await new PortalVisitor().open(url);
    expect(again.status).toBe(410);
    expect(again.html).toContain("This link was already used");
    expect(again.headers.get("set-cookie")).toBeNull();

    const expiring = await issueLink(await tenantAdmin("tnt_pl1"), { expires_in: 60 });
    await env.DB.prepare("UPDATE portal_sessions SET link_expires_at = ?1, expires_at = ?1 WHERE link_hash = ?2")
      .bind(Date.now() - 1, await hashPortalToken(tokenOf(expiring)))
      .run();
    const expired = await new PortalVisitor().open(expiring);
    expect(expired.status).toBe(410);
    expect(expired.html).toContain("This link has expired");

    const unknown = await new PortalVisitor().open("/portal/link/not-a-real-token");
    expect(unknown.status).toBe(404);
    expect(unknown.html).toContain("This link is not valid");
  });

  it("two concurrent openings of one link: exactly one session", async () => {
    const url = await issueLink(await tenantAdmin("tnt_pl1"));
    const results = await Promise.all([
      new PortalVisitor().open(url),
      new PortalVisitor().open(url),
      new PortalVisitor().open(url),
    ]);
    expect(results.map((r) => r.status).sort()).toEqual([200, 410, 410]);
  });

  it("without a session every page is a 401 page, not the portal", async () => {
    const res = await new PortalVisitor().open("/portal");
    expect(res.status).toBe(401);
    expect(res.html).toContain("Your session has ended");
    const forged = new PortalVisitor();
    forged.cookie = "__Host-scaikey-portal=forged";
    expect((await forged.open("/portal")).status).toBe(401);
  });

  it("signing out ends the session server-side", async () => {
    const visitor = await PortalVisitor.signIn(await tenantAdmin("tnt_pl1"));
    const cookie = visitor.cookie;
    expect((await visitor.open("/portal/logout", { form: { _csrf: await visitor.csrf() } })).status).toBe(200);
    const replay = new PortalVisitor();
    replay.cookie = cookie;
    expect((await replay.open("/portal")).status).toBe(401);
  });

  it("retention deletes expired rows and keeps live ones", async () => {
    const live = await issueLink(await tenantAdmin("tnt_purge"));
    const dead = await issueLink(await tenantAdmin("tnt_purge"));
    await env.DB.prepare("UPDATE portal_sessions SET expires_at = 1 WHERE link_hash = ?")
      .bind(await hashPortalToken(tokenOf(dead)))
      .run();
    expect(await purgeExpiredPortalSessions(db, Date.now())).toBeGreaterThanOrEqual(1);
    const left = await env.DB.prepare("SELECT link_hash FROM portal_sessions WHERE tenant_id = 'tnt_purge'").all();
    expect(left.results.map((r) => r.link_hash)).toEqual([await hashPortalToken(tokenOf(live))]);
  });

  it("link and session lookups use their unique indexes", async () => {
    for (const [column, index] of [
      ["link_hash", "portal_sessions_link_hash_uq"],
      ["session_hash", "portal_sessions_session_hash_uq"],
    ]) {
      const plan = await env.DB.prepare(
        `EXPLAIN QUERY PLAN SELECT * FROM portal_sessions WHERE ${column} = 'x' AND expires_at > 1`,
      ).all();
      expect(JSON.stringify(plan.results)).toContain(index);
    }
  });

  it("the retention purge walks the expires_at index", async () => {
    const plan = await env.DB.prepare(
      "EXPLAIN QUERY PLAN SELECT id FROM portal_sessions WHERE expires_at < 1 ORDER BY expires_at LIMIT 500",
    ).all();
    expect(JSON.stringify(plan.results)).toContain("portal_sessions_expires_idx");
  });
});

describe("pages and security headers", () => {
  it("a strict CSP with a per-response nonce that only our script carries", async () => {
    const visitor = await PortalVisitor.signIn(await tenantAdmin("tnt_csp"));
    const a = await visitor.open("/portal");
    const b = await visitor.open("/portal");
    const csp = a.headers.get("content-security-policy")!;
    const nonce = /'nonce-([^']+)'/.exec(csp)![1]!;
    expect(csp).toContain("default-src 'none'");
    expect(csp).not.toContain("unsafe-inline");
    expect(b.headers.get("content-security-policy")).not.toContain(nonce);
    const scripts = [...a.html.matchAll(/<script([^>]*)>/g)].map((m) => m[1]!);
    expect(scripts).toHaveLength(1);
    expect(scripts[0]).toContain(`nonce="${nonce}"`);
    expect(a.html).not.toMatch(/ style="/);
    expect(a.headers.get("x-frame-options")).toBe("DENY");
  });

  it("escapes what tenants and receivers control", async () => {
    const token = await tenantAdmin("tnt_xss");
    const evil = `<img src=x onerror=alert(1)>"'`;
    const hook = await createWebhook(token, {
      url: `https://receiver.example.com/h?q=<script>`,
      description: evil,
      events: ["*"],
      headers: { "X-Evil": evil },
    });
    const visitor = await PortalVisitor.signIn(token);
    for (const path of ["/portal", `/portal/webhooks/${hook.id}`, `/portal/webhooks/${hook.id}/edit`]) {
      const page = await visitor.open(path);
      expect(page.status).toBe(200);
      expect(page.html).not.toContain("<img src=x");
      expect(page.html).not.toContain("<script>");
      expect(page.html).toMatch(/&lt;img src=x onerror=alert\(1\)&gt;/);
    }
  });
});

describe("authorization: the same rules as the API", () => {
  it("another tenant's webhook is a 404 on every page and action", async () => {
    const other = await createWebhook(await tenantAdmin("tnt_someone_else"), { events: ["*"] });
    const visitor = await PortalVisitor.signIn(await tenantAdmin("tnt_me"));
    const csrf = await visitor.csrf();
    for (const path of [
      "",
      "/edit",
      "/deliveries",
      "/deliveries/1",
      "/stats",
      "/rotate",
      "/delete",
      "/recover",
      "/replay",
    ]) {
      const res = await visitor.open(`/portal/webhooks/${other.id}${path}`);
      expect(res.status, path).toBe(404);
      expect(res.html).toContain("Not found");
    }
    for (const path of [
      "/delete",
      "/rotate",
      "/test",
      "/enabled",
      "/edit",
      "/recover",
      "/replay",
      "/deliveries/1/retry",
    ]) {
      expect(
        (
          await visitor.open(`/portal/webhooks/${other.id}${path}`, {
            form: { _csrf: csrf, grace: "0", enabled: "false" },
          })
        ).status,
        path,
      ).toBe(404);
    }
    // The log across endpoints does not take another tenant's endpoint either.
    const log = await visitor.open(`/portal/deliveries?webhook=${other.id}`);
    expect(log.status).toBe(422);
    expect(log.html).toContain("Not one of your endpoints");
    expect(log.html).not.toContain(other.url);
    expect((await api("GET", `${WEBHOOKS}/${other.id}`, { token: await tenantAdmin("tnt_someone_else") })).status).toBe(
      200,
    );
  });

  it("a read-only session reads, and every write is a 403 page", async () => {
    const token = await tenantAdmin("tnt_ro");
    const hook = await createWebhook(token, { events: ["*"] });
    const visitor = await PortalVisitor.signIn(token, { read_only: true });
    const home = await visitor.open("/portal");
    expect(home.status).toBe(200);
    expect(home.html).toContain("Read-only");
    expect(home.html).not.toContain("Add endpoint");
    expect((await visitor.open(`/portal/webhooks/${hook.id}`)).status).toBe(200);
    expect((await visitor.open("/portal/webhooks/new")).status).toBe(403);
    const csrf = await visitor.csrf();
    const create = await visitor.open("/portal/webhooks", {
      form: { _csrf: csrf, url: "https://x.example.com/", events: "*", enabled: "on" },
    });
    expect(create.status).toBe(403);
    expect(create.html).toContain("read-only session");
    expect((await visitor.open(`/portal/webhooks/${hook.id}/delete`, { form: { _csrf: csrf } })).status).toBe(403);
    for (const path of ["/recover", "/replay", "/test", "/deliveries/1/retry"])
      expect(
        (await visitor.open(`/portal/webhooks/${hook.id}${path}`, { form: { _csrf: csrf, since: "24h" } })).status,
        path,
      ).toBe(403);
    expect((await api("GET", `${WEBHOOKS}/${hook.id}`, { token })).status).toBe(200);
  });

  it("writes without the CSRF token, with a wrong one, or from another origin are refused", async () => {
    const visitor = await PortalVisitor.signIn(await tenantAdmin("tnt_csrf"));
    const form = { url: "https://x.example.com/", events: "*", enabled: "on" };
    expect((await visitor.open("/portal/webhooks", { form })).status).toBe(403);
    expect((await visitor.open("/portal/webhooks", { form: { ...form, _csrf: "x".repeat(43) } })).status).toBe(403);
    const csrf = await visitor.csrf();
    expect(
      (
        await visitor.open("/portal/webhooks", {
          form: { ...form, _csrf: csrf },
          headers: { origin: "https://evil.example" },
        })
      ).status,
    ).toBe(403);
    const ok = await visitor.open("/portal/webhooks", {
      form: { ...form, _csrf: csrf },
      headers: { origin: "https://webhooks.test" },
    });
    expect(ok.status).toBe(303);
    // Another session's token does not work either.
    const other = await PortalVisitor.signIn(await tenantAdmin("tnt_csrf"));
    expect((await other.open("/portal/webhooks", { form: { ...form, _csrf: csrf } })).status).toBe(403);
  });
});

describe("screens through the domain", () => {
  it("create shows the secret once, after a redirect; the endpoint is the API's; test event, rotate, delete", async () => {
    const token = await tenantAdmin("tnt_flow");
    const visitor = await PortalVisitor.signIn(token);
    const csrf = await visitor.csrf();
    const { url } = hookUrl({ body: "<script>alert('receiver')</script>" });
    const created = await visitor.open("/portal/webhooks", {
      form: {
        _csrf: csrf,
        url,
        description: "Billing sync",
        events: ["user.created", "group.*"],
        headers: "X-Team: billing",
        enabled: "on",
      },
    });
    expect(created.status).toBe(303);
    const landed = await visitor.follow(created);
    const secret = /<code id="secret-value">(whsec_[^<]+)<\/code>/.exec(landed.html)![1]!;
    const list = await api("GET", `${WEBHOOKS}/`, { token });
    expect(list.body.items).toHaveLength(1);
    const hook = list.body.items[0]!;
    expect(hook).toMatchObject({
      url,
      description: "Billing sync",
      events: ["user.created", "group.*"],
      headers: { "X-Team": "billing" },
      tenant_id: "tnt_flow",
    });
    expect((await visitor.open(`/portal/webhooks/${hook.id}`)).html).not.toContain(secret);

    const tested = await visitor.follow(visitor.open(`/portal/webhooks/${hook.id}/test`, { form: { _csrf: csrf } }));
    expect(tested.html).toContain("Test event delivered");
    expect(tested.html).toContain("&lt;script&gt;alert(&#39;receiver&#39;)&lt;/script&gt;");
    const deliveries = await api("GET", `${WEBHOOKS}/${hook.id}/deliveries`, { token });
    expect(deliveries.body.items[0]).toMatchObject({ event_type: "webhook.test", status: "success" });

    const rotated = await visitor.follow(
      visitor.open(`/portal/webhooks/${hook.id}/rotate`, { form: { _csrf: csrf, grace: "3600" } }),
    );
    expect(rotated.html).toContain("The previous secret keeps signing until");
    const newSecret = /<code id="secret-value">(whsec_[^<]+)<\/code>/.exec(rotated.html)![1]!;
    expect(newSecret).not.toBe(secret);
    const row = await d1OfWebhook(hook.id)
      .prepare("SELECT previous_secret_expires_at FROM webhook_endpoints WHERE id = ?")
      .bind(hook.id)
      .first<{ previous_secret_expires_at: number }>();
    expect(Math.abs(row!.previous_secret_expires_at - Date.now() - 3_600_000)).toBeLessThan(10_000);

    const invalid = await visitor.open(`/portal/webhooks/${hook.id}/edit`, {
      form: { _csrf: csrf, url: "ftp://nope", events: [], headers: "bad header" },
    });
    expect(invalid.status).toBe(422);
    expect(invalid.html).toContain("Pick at least one event type");
    expect(invalid.html).toContain('aria-invalid="true"');

    const edited = await visitor.open(`/portal/webhooks/${hook.id}/edit`, {
      form: { _csrf: csrf, url, events: "*", headers: "", description: "" },
    });
    expect(edited.status).toBe(303);
    expect((await api("GET", `${WEBHOOKS}/${hook.id}`, { token })).body).toMatchObject({
      events: ["*"],
      enabled: false,
      description: null,
      headers: {},
    });

    const deleted = await visitor.open(`/portal/webhooks/${hook.id}/delete`, { form: { _csrf: csrf } });
    expect(deleted.status).toBe(303);
    expect((await api("GET", `${WEBHOOKS}/${hook.id}`, { token })).status).toBe(404);
  });

  it("sets a rate limit and ordering, shows them, and says why an ordered endpoint's deliveries wait", async () => {
    const token = await tenantAdmin("tnt_portal_flow");
    const visitor = await PortalVisitor.signIn(token);
    const csrf = await visitor.csrf();
    const { url } = hookUrl({ plan: [503] });
    const form = { _csrf: csrf, url, events: "user.*", enabled: "on" };
    const refused = await visitor.open("/portal/webhooks", { form: { ...form, rate_limit: "5000", ordered: "on" } });
    expect(refused.status).toBe(422);
    expect(refused.html).toMatch(/id="rate_limit"[^>]*aria-invalid="true"/);
    const created = await visitor.open("/portal/webhooks", { form: { ...form, rate_limit: "20", ordered: "on" } });
    expect(created.status).toBe(303);
    const [hook] = (await api("GET", `${WEBHOOKS}/`, { token })).body.items;
    expect(hook).toMatchObject({ rate_limit: 20, ordered: true, ordered_head_delivery_id: null });
    const edit = await visitor.open(`/portal/webhooks/${hook!.id}/edit`);
    expect(edit.html).toMatch(/id="rate_limit"[^>]*value="20"/);
    expect(edit.html).toMatch(/name="ordered" checked/);

    // Its first delivery fails and waits for its retry: the line waits behind it, and the overview says so.
    const [head] = [await seedDelivery(hook!.id, "tnt_portal_flow")];
    await seedDelivery(hook!.id, "tnt_portal_flow");
    await attemptDelivery(deliveryDeps({ now: Date.now() }), head!);
    const overview = textOf((await visitor.open(`/portal/webhooks/${hook!.id}`)).html);
    expect(overview).toContain("20 deliveries a second");
    expect(overview).toContain(`One at a time, in publish order; next: #${head!.id}`);
    expect(overview).toContain("Deliveries wait in line");
    expect(overview).toContain("HTTP 503 Service Unavailable");
    expect((await api("GET", `${WEBHOOKS}/${hook!.id}`, { token })).body.ordered_head_delivery_id).toBe(head!.id);

    // Cleared in the form: no limit, any order.
    const cleared = await visitor.open(`/portal/webhooks/${hook!.id}/edit`, { form: { ...form, rate_limit: "" } });
    expect(cleared.status).toBe(303);
    expect((await api("GET", `${WEBHOOKS}/${hook!.id}`, { token })).body).toMatchObject({
      rate_limit: null,
      ordered: false,
      ordered_head_delivery_id: null,
    });
  });

  it("a failed test event is tried again through the queue, as from the API", async () => {
    const token = await tenantAdmin("tnt_portal_requeue");
    const hook = hookUrl({ plan: [500, 200] });
    const webhook = await createWebhook(token, { url: hook.url, events: ["*"] });
    const visitor = await PortalVisitor.signIn(token);
    const csrf = await visitor.csrf();
    const tested = await visitor.open(`/portal/webhooks/${webhook.id}/test`, {
      form: { _csrf: csrf },
      bindings: QUICK_RETRIES,
    });
    expect(tested.status).toBe(303);
    const [failed] = (await api("GET", `${WEBHOOKS}/${webhook.id}/deliveries`, { token })).body.items;
    expect(failed).toMatchObject({ event_type: "webhook.test", status: "retrying" });
    const delivery = await eventuallySucceeds({ id: webhook.id, token }, failed!.id);
    expect(delivery.attempts.map((a) => a.status_code)).toEqual([500, 200]);
  });

  it("deliveries filter by status, event type, status code and time; the detail shows the payload and attempts", async () => {
    const token = await tenantAdmin("tnt_filter");
    const { url } = hookUrl({ plan: [500] });
    const hook = await createWebhook(token, { url, events: ["*"] });
    const visitor = await PortalVisitor.signIn(token);
    const csrf = await visitor.csrf();
    await visitor.open(`/portal/webhooks/${hook.id}/test`, { form: { _csrf: csrf } });
    const all = await visitor.open(`/portal/webhooks/${hook.id}/deliveries`);
    expect(all.html).toContain("webhook.test");
    const id = /deliveries\/(\d+)"/.exec(all.html)![1];
    for (const q of ["status=retrying", "status_code=500", "event_type=webhook.test", "since=1h"]) {
      expect((await visitor.open(`/portal/webhooks/${hook.id}/deliveries?${q}`)).html, q).toContain(`#${id}`);
    }
    for (const q of ["status=success", "status_code=200", "event_type=user.created"]) {
      const page = await visitor.open(`/portal/webhooks/${hook.id}/deliveries?${q}`);
      expect(page.html, q).not.toContain(`#${id}`);
      expect(page.html).toContain("No deliveries match these filters");
    }
    expect((await visitor.open(`/portal/webhooks/${hook.id}/deliveries?status=bogus`)).html).toContain(
      "Unknown status",
    );
    const detail = await visitor.open(`/portal/webhooks/${hook.id}/deliveries/${id}`);
    expect(detail.html).toContain("Attempt 1");
    expect(detail.html).toContain("HTTP 500");
    expect(detail.html).toContain("&quot;event_type&quot;: &quot;webhook.test&quot;");
  });

  it("shows a delivery's payload with its numbers as signed and delivered", async () => {
    const token = await tenantAdmin("tnt_exact_portal");
    const hook = await createWebhook(token, { url: hookUrl().url, events: ["*"] });
    const published = await api("POST", "/api/v1/events", {
      token,
      rawBody:
        '{"event_type":"user.created","tenant_id":"tnt_exact_portal","resource":{"type":"user","id":"u"},' +
        '"data":{"f":1.0,"neg0":-0.0,"big":12345678901234567890,"e":1e21,"10":"ten","9":"nine","s":"caf\u00e9"}}',
      headers: { "content-type": "application/json" },
    });
    expect(published.status).toBe(202);
    const list = await api("GET", `${WEBHOOKS}/${hook.id}/deliveries`, { token });
    const visitor = await PortalVisitor.signIn(token);
    const detail = await visitor.open(`/portal/webhooks/${hook.id}/deliveries/${list.body.items[0]!.id}`);
    // Indented for reading; every token as delivered (keys in Python's order, "10" before "9", escapes kept).
    for (const line of [
      "&quot;10&quot;: &quot;ten&quot;,",
      "&quot;9&quot;: &quot;nine&quot;,",
      "&quot;big&quot;: 12345678901234567890,",
      "&quot;e&quot;: 1e+21,",
      "&quot;f&quot;: 1.0,",
      "&quot;neg0&quot;: -0.0,",
      "&quot;s&quot;: &quot;caf\\u00e9&quot;",
    ])
      expect(detail.html).toContain(line);
  });

  it("a filtered delivery list stays on the webhook's key in every partition, newest first", async () => {
    const now = Date.now();
    await createPartitions(env.DB, [hourOf(now) - 2, hourOf(now) - 1, hourOf(now), hourOf(now) + 1]);
    const plans = await queryPlansOf((d1) =>
      listDeliveryHistory(
        { db: createDb(d1), archive: null, config: { retentionDays: 30 }, now: () => now },
        "wh_x",
        { eventType: "user.created", lastStatusCode: 500, createdFrom: 1 },
        { page: 1, perPage: 20 },
      ),
    );
    const [list, count] = plans;
    const tables = tablesOf("deliveries", await listPartitionHours(env.DB));
    for (const { plan } of [list!, count!]) {
      for (const table of tables) expect(plan).toContain(`SEARCH ${table} USING PRIMARY KEY (webhook_id=?)`);
      // No table read through (the view's own rows are the partitions' searches), no sort.
      expect(plan.filter((d) => /^SCAN (?!deliveries_live\b)|TEMP B-TREE/.test(d))).toEqual([]);
    }
  });

  it("stats and the event catalog render", async () => {
    const token = await tenantAdmin("tnt_stats");
    const hook = await createWebhook(token, { url: hookUrl().url, events: ["*"] });
    const visitor = await PortalVisitor.signIn(token);
    for (const w of ["1h", "24h", "7d", "30d"]) {
      const page = await visitor.open(`/portal/webhooks/${hook.id}/stats?window=${w}`);
      expect(page.status).toBe(200);
      expect(page.html).toContain('<svg class="chart"');
    }
    const catalog = await visitor.open("/portal/events");
    expect(catalog.html).toContain("user.created");
    expect(catalog.html).toContain("&quot;tenant_id&quot;: &quot;tnt_stats&quot;");
  });
});
