// The jobs an admin comes to the portal for after an outage, through the Worker: get back what was missed (recover,
// replay after re-enabling), see why an endpoint fails (the failing state, the last error, the real reason it is off,
// what was sent and what came back), find deliveries (the log across endpoints, search), and never act twice by reload.
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { onShard, shardOfWebhook } from "../../src/db/shards";
import { continueRecoveries } from "../../src/domain/recovery";
import { createServices } from "../../src/lib/services";
import { api, createWebhook, WEBHOOKS } from "../helpers/api";
import { deliveryRow, seedDelivery, updateDeliveries, updateDelivery } from "../helpers/deliveries";
import { PortalVisitor, textOf } from "../helpers/portal";
import { hookUrl, recorded } from "../helpers/receiver";
import { d1OfWebhook } from "../helpers/shards";
import { partnerAdmin, publisher, tenantAdmin } from "../helpers/tokens";

const uid = () => crypto.randomUUID().replaceAll("-", "").slice(0, 10);
const deliveryCount = async (webhookId: string) =>
  (await d1OfWebhook(webhookId)
    .prepare("SELECT count(*) AS n FROM deliveries_live WHERE webhook_id = ?")
    .bind(webhookId)
    .first<{ n: number }>())!.n;

async function tenantWith(opts: { url?: string; events?: string[] } = {}) {
  const tenant = `tnt_job${uid()}`;
  const token = await tenantAdmin(tenant);
  const hook = await createWebhook(token, { url: opts.url ?? hookUrl().url, events: opts.events ?? ["*"] });
  const visitor = await PortalVisitor.signIn(token);
  return { tenant, token, hook, visitor, csrf: await visitor.csrf() };
}

const publishTo = async (tenant: string, resourceId = "usr_1", type = "user.created") =>
  api("POST", "/api/v1/events", {
    token: await publisher(tenant),
    body: { event_type: type, tenant_id: tenant, resource: { type: "user", id: resourceId }, data: { n: 1 } },
  });

describe("reload repeats nothing: POST, redirect, then GET with a single-use flash", () => {
  it("create, test and rotate answer 303; the result shows once; a reload neither acts again nor shows it", async () => {
    const tenant = `tnt_prg${uid()}`;
    const token = await tenantAdmin(tenant);
    const visitor = await PortalVisitor.signIn(token);
    const csrf = await visitor.csrf();
    const created = await visitor.open("/portal/webhooks", {
      form: { _csrf: csrf, url: hookUrl().url, events: "*", enabled: "on" },
    });
    expect(created.status).toBe(303);
    const location = created.headers.get("location")!;
    expect(location).toMatch(/^\/portal\/webhooks\/wh_[A-Za-z0-9_]+$/);
    // Until the GET, the secret waits sealed in the session row: never in the URL, never in clear.
    const secretRow = await env.DB.prepare("SELECT flash FROM portal_sessions WHERE tenant_id = ?")
      .bind(tenant)
      .first<{ flash: string }>();
    expect(secretRow!.flash.startsWith(`${location}\n`)).toBe(true);
    expect(secretRow!.flash).not.toContain("whsec_");
    const first = await visitor.open(location);
    const secret = /<code id="secret-value">(whsec_[^<]+)<\/code>/.exec(first.html)![1]!;
    expect(first.html).toContain("not again on reload");
    const reload = await visitor.open(location);
    expect(reload.status).toBe(200);
    expect(reload.html).not.toContain(secret);
    expect((await api("GET", `${WEBHOOKS}/`, { token })).body.items).toHaveLength(1);

    const id = location.split("/").pop()!;
    const tested = await visitor.open(`${location}/test`, { form: { _csrf: csrf } });
    expect(tested.status).toBe(303);
    expect((await visitor.open(location)).html).toContain("Test event delivered");
    const again = await visitor.open(location);
    expect(again.html).not.toContain("Test event delivered");
    expect(await deliveryCount(id)).toBe(1);

    const before = await d1OfWebhook(id).prepare("SELECT secret FROM webhook_endpoints WHERE id = ?").bind(id).first();
    const rotated = await visitor.open(`${location}/rotate`, { form: { _csrf: csrf, grace: "3600" } });
    expect(rotated.status).toBe(303);
    const shown = await visitor.open(location);
    expect(shown.html).toMatch(/<code id="secret-value">whsec_/);
    expect(textOf(shown.html)).toMatch(/The previous secret keeps signing until \d{4}-\d\d-\d\d \d\d:\d\d UTC/);
    const after = await d1OfWebhook(id).prepare("SELECT secret FROM webhook_endpoints WHERE id = ?").bind(id).first();
    expect((await visitor.open(location)).html).not.toMatch(/<code id="secret-value">/);
    expect(await d1OfWebhook(id).prepare("SELECT secret FROM webhook_endpoints WHERE id = ?").bind(id).first()).toEqual(
      after,
    );
    expect(after).not.toEqual(before);
    // While the grace period lasts the overview says until when the old secret signs.
    expect(textOf((await visitor.open(location)).html)).toMatch(/Previous secret signs too until/);
  });

  it("a flash is taken by its own page only", async () => {
    const { hook, visitor, csrf } = await tenantWith();
    await visitor.open(`/portal/webhooks/${hook.id}/test`, { form: { _csrf: csrf } });
    expect((await visitor.open("/portal")).html).not.toContain("Test event delivered");
    expect((await visitor.open(`/portal/webhooks/${hook.id}`)).html).toContain("Test event delivered");
  });
});

describe("why an endpoint fails", () => {
  it("failing: its own badge from recent attempts, the last error in words, counts labelled as they are", async () => {
    const { hook, visitor, csrf } = await tenantWith({ url: hookUrl({ plan: [500] }).url });
    for (let i = 0; i < 3; i++) await visitor.open(`/portal/webhooks/${hook.id}/test`, { form: { _csrf: csrf } });
    const list = await visitor.open("/portal");
    expect(list.html).toContain('<span class="badge b-fail">Failing</span>');
    expect(list.html).not.toContain('<span class="badge b-ok">Active</span>');
    expect(textOf(list.html)).toContain("3 of the last 3 deliveries failed");
    expect(textOf(list.html)).toMatch(/Last error: HTTP 500 Internal Server Error · \d{4}-/);
    const overview = textOf((await visitor.open(`/portal/webhooks/${hook.id}`)).html);
    expect(overview).toContain("Failing");
    expect(overview).toContain("3 of 3 Recent deliveries whose last attempt failed");
    expect(overview).toContain("0 Deliveries failed in a row, after all retries");
  });

  it("a healthy endpoint stays Active; one attempt reads '1 attempt'", async () => {
    const { hook, visitor, csrf } = await tenantWith();
    await visitor.open(`/portal/webhooks/${hook.id}/test`, { form: { _csrf: csrf } });
    const list = await visitor.open("/portal");
    expect(list.html).toContain('<span class="badge b-ok">Active</span>');
    expect(textOf(list.html)).toContain("1 attempt ");
  });

  it("an endpoint turned off by a 410 says so, not 'failed deliveries in a row'", async () => {
    const { hook, visitor } = await tenantWith();
    await d1OfWebhook(hook.id)
      .prepare(
        "UPDATE webhook_endpoints SET enabled = 0, disabled_reason = 'gone', disabled_at = ?, failure_count = 1 WHERE id = ?",
      )
      .bind(Date.now(), hook.id)
      .run();
    for (const path of ["/portal", `/portal/webhooks/${hook.id}`]) {
      const text = textOf((await visitor.open(path)).html);
      expect(text).toContain("receiver answered 410 Gone");
      expect(text).not.toContain("in a row failed");
    }
  });

  it("an attempt shows its request headers (signatures masked) and the response's headers; durations in words", async () => {
    const { tenant, hook, visitor } = await tenantWith({ url: hookUrl({ plan: [503], retryAfter: "120" }).url });
    await api("PATCH", `${WEBHOOKS}/${hook.id}`, {
      token: await tenantAdmin(tenant),
      body: { headers: { "X-Team": "identity" } },
    });
    await visitor.open(`/portal/webhooks/${hook.id}/test`, { form: { _csrf: await visitor.csrf() } });
    const delivery = (await api("GET", `${WEBHOOKS}/${hook.id}/deliveries`, { token: await tenantAdmin(tenant) })).body
      .items[0]!;
    const page = await visitor.open(`/portal/webhooks/${hook.id}/deliveries/${delivery.id}`);
    const text = textOf(page.html);
    expect(text).toContain(`X-ScaiKey-Webhook-ID ${delivery.id}`);
    expect(text).toMatch(/X-ScaiKey-Signature t=\d+,v1=•••• \(masked\)/);
    expect(text).toContain("webhook-signature v1,•••• (masked)");
    expect(text).toContain("X-Team identity");
    expect(text).toContain("HTTP 503 Service Unavailable");
    expect(page.html).toContain("Response headers of attempt 1");
    expect(text).toContain("retry-after 120");
    expect(text).toMatch(/Attempt 1 · [^·]+ · \d+ ms · HTTP 503/);
    expect(page.html).toContain('data-copy="payload"');
    // Still retrying: the page refreshes its delivery part by itself.
    expect(page.html).toContain('id="delivery" data-live=""');
  });
});

describe("get back what was missed", () => {
  it("re-enabling offers the replay of what it missed; the replay previews its count, then answers with the 202 result", async () => {
    const { tenant, hook, visitor, csrf } = await tenantWith({ events: ["user.*"] });
    expect(
      (await visitor.open(`/portal/webhooks/${hook.id}/enabled`, { form: { _csrf: csrf, enabled: "false" } })).status,
    ).toBe(303);
    for (let i = 0; i < 3; i++) expect((await publishTo(tenant)).status).toBe(202);
    const off = textOf((await visitor.open(`/portal/webhooks/${hook.id}`)).html);
    expect(off).toContain("Turned off by an admin");
    expect(off).toContain("It has missed 3 events since it was turned off");
    await visitor.open(`/portal/webhooks/${hook.id}/enabled`, { form: { _csrf: csrf, enabled: "true" } });
    const on = await visitor.open(`/portal/webhooks/${hook.id}`);
    expect(textOf(on.html)).toContain("While it was off it missed 3 events");
    const offer = /href="(\/portal\/webhooks\/[^"]+\/replay\?since=[^"]+)"/.exec(on.html)![1]!.replaceAll("&amp;", "&");
    const preview = await visitor.open(offer);
    expect(preview.status).toBe(200);
    expect(textOf(preview.html)).toContain("This will send 3 missed events");
    expect(preview.html).toContain('type="datetime-local"');
    const since = /name="since" value="([^"]+)"/.exec(preview.html)![1]!;
    const until = /name="until" value="([^"]+)"/.exec(preview.html)![1]!;
    const started = await visitor.open(`/portal/webhooks/${hook.id}/replay`, { form: { _csrf: csrf, since, until } });
    expect(started.status).toBe(303);
    expect(textOf((await visitor.open(`/portal/webhooks/${hook.id}`)).html)).toContain(
      "Replay accepted (202): 3 deliveries created",
    );
    expect(await deliveryCount(hook.id)).toBe(3);
    // Done once: the same window finds nothing more.
    expect(textOf((await visitor.open(offer)).html)).toContain("This will send 0 missed events");
  });

  it("recover counts the failed deliveries of the window, queues them again, and shows a running job's progress", async () => {
    const { tenant, hook, visitor, csrf } = await tenantWith();
    const now = Date.now();
    const ids = [await seedDelivery(hook.id, tenant, now - 60_000), await seedDelivery(hook.id, tenant, now - 50_000)];
    await updateDeliveries(ids, { status: "failed", in_queue: 0, completed_at: now - 1000, updated_at: now - 1000 });
    const since = new Date(now - 3_600_000).toISOString().slice(0, 16);
    const preview = await visitor.open(`/portal/webhooks/${hook.id}/recover?since=${since}`);
    expect(textOf(preview.html)).toContain("This will resend 2 deliveries");
    const bad = await visitor.open(`/portal/webhooks/${hook.id}/recover?since=yesterday`);
    expect(bad.status).toBe(422);
    expect(bad.html).toMatch(/id="r-since"[^>]*aria-invalid="true"/);
    const s = /name="since" value="([^"]+)"/.exec(preview.html)![1]!;
    const u = /name="until" value="([^"]+)"/.exec(preview.html)![1]!;
    await visitor.open(`/portal/webhooks/${hook.id}/recover`, { form: { _csrf: csrf, since: s, until: u } });
    expect(textOf((await visitor.open(`/portal/webhooks/${hook.id}`)).html)).toContain(
      "Recovery accepted (202): 2 deliveries queued again",
    );
    // The request recovers the window's first hour; the cron continues from there.
    await continueRecoveries(onShard(createServices(env), shardOfWebhook(hook.id)));
    for (const id of ids) expect((await deliveryRow(id))!.status).not.toBe("failed");
    // A job the cron still continues: its progress through the window, refreshed in place.
    await d1OfWebhook(hook.id)
      .prepare(
        "INSERT INTO webhook_recoveries (webhook_id, kind, since, until, cursor, requested_at) VALUES (?, 'replay', ?, ?, ?, ?)",
      )
      .bind(hook.id, now - 4000, now, now - 1000, now)
      .run();
    const running = await visitor.open(`/portal/webhooks/${hook.id}`);
    expect(running.html).toContain('id="jobs" data-live=""');
    expect(running.html).toMatch(/<progress[^>]*value="75"/);
  });

  it("a disabled endpoint: retry offers 'Enable endpoint and retry', which does both; the edit form enables too", async () => {
    const { tenant, hook, visitor, csrf } = await tenantWith();
    const ref = await seedDelivery(hook.id, tenant);
    const id = ref.id;
    await updateDelivery(ref, { status: "failed", in_queue: 0, completed_at: Date.now(), attempt_count: 1 });
    await d1OfWebhook(hook.id)
      .prepare(
        "UPDATE webhook_endpoints SET enabled = 0, disabled_reason = 'consecutive_failures', disabled_at = ?, failure_count = 7 WHERE id = ?",
      )
      .bind(Date.now(), hook.id)
      .run();
    const detail = await visitor.open(`/portal/webhooks/${hook.id}/deliveries/${id}`);
    expect(detail.html).toContain("Enable endpoint and retry");
    expect(detail.html).not.toContain(">Retry now<");
    const stale = await visitor.open(`/portal/webhooks/${hook.id}/deliveries/${id}/retry`, { form: { _csrf: csrf } });
    expect(stale.status).toBe(409);
    expect(stale.html).toContain("Enable endpoint and retry");
    const done = await visitor.open(`/portal/webhooks/${hook.id}/deliveries/${id}/retry`, {
      form: { _csrf: csrf, enable: "true" },
    });
    expect(done.status).toBe(303);
    expect(textOf((await visitor.open(done.headers.get("location")!)).html)).toContain(
      "Endpoint enabled and the retry queued",
    );
    expect((await api("GET", `${WEBHOOKS}/${hook.id}`, { token: await tenantAdmin(tenant) })).body.enabled).toBe(true);

    await d1OfWebhook(hook.id)
      .prepare("UPDATE webhook_endpoints SET enabled = 0, disabled_reason = 'consecutive_failures' WHERE id = ?")
      .bind(hook.id)
      .run();
    const form = await visitor.open(`/portal/webhooks/${hook.id}/edit`);
    expect(textOf(form.html)).toContain("Tick to turn it on again");
    await visitor.open(`/portal/webhooks/${hook.id}/edit`, {
      form: { _csrf: csrf, url: hook.url, events: "*", enabled: "on" },
    });
    expect((await api("GET", `${WEBHOOKS}/${hook.id}`, { token: await tenantAdmin(tenant) })).body).toMatchObject({
      enabled: true,
      status: "active",
    });
  });
});

describe("finding deliveries", () => {
  it("the log across endpoints, newest first, a page at a time; by endpoint, by event id, by resource id", async () => {
    const tenant = `tnt_log${uid()}`;
    const token = await tenantAdmin(tenant);
    const a = await createWebhook(token, { url: hookUrl().url, events: ["*"] });
    const b = await createWebhook(token, { url: hookUrl().url, events: ["user.created"] });
    const now = Date.now();
    // Both endpoints' deliveries of each ms share an id (ids are unique per webhook): the pages still part exactly.
    for (let i = 0; i < 12; i++) {
      await seedDelivery(a.id, tenant, now - 30_000 + i);
      await seedDelivery(b.id, tenant, now - 30_000 + i);
    }
    const published = await api("POST", "/api/v1/events", {
      token: await publisher(tenant),
      body: {
        event_type: "user.created",
        tenant_id: tenant,
        resource: { type: "user", id: "usr_wanted" },
        data: {},
      },
    });
    const visitor = await PortalVisitor.signIn(token);
    const log = await visitor.open("/portal/deliveries");
    expect(log.status).toBe(200);
    const rowsOf = (html: string) => [...html.matchAll(/webhooks\/(wh_\w+)\/deliveries\/(\d+)"/g)];
    const shown = rowsOf(log.html);
    expect(shown).toHaveLength(20);
    const ids = shown.map((m) => Number(m[2]));
    expect(ids).toEqual([...ids].sort((x, y) => y - x));
    expect(textOf(log.html)).toContain("26 deliveries");
    const older = /href="(\/portal\/deliveries\?before=\d+\.wh_\w+)"/.exec(log.html)![1]!;
    const next = rowsOf((await visitor.open(older)).html);
    expect(next).toHaveLength(6);
    expect(new Set([...shown, ...next].map((m) => `${m[1]}/${m[2]}`)).size).toBe(26);

    const onlyB = await visitor.open(`/portal/deliveries?webhook=${b.id}`);
    expect(textOf(onlyB.html)).toContain("13 deliveries");
    const eventId = published.body.event_id as string;
    const byEvent = await visitor.open(`/portal/deliveries?event_id=${eventId}`);
    expect(rowsOf(byEvent.html)).toHaveLength(2);
    const byResource = await visitor.open("/portal/deliveries?resource_id=usr_wanted");
    expect(rowsOf(byResource.html)).toHaveLength(2);
    expect(textOf(byResource.html)).toContain("about resource usr_wanted");
    expect(rowsOf((await visitor.open("/portal/deliveries?resource_id=usr_nobody")).html)).toHaveLength(0);
  });

  it("filters are checked, not ignored; since/until are pickers and honoured from the URL", async () => {
    const { tenant, hook, visitor } = await tenantWith({ events: ["user.created", "group.*"] });
    const { id } = await seedDelivery(hook.id, tenant, Date.now() - 120_000);
    for (const [q, field] of [
      ["status_code=abc", "f-code"],
      ["status_code=1000", "f-code"],
      ["since=yesterday", "f-since"],
      ["event_id=nope", "f-event-id"],
      ["status=bogus", "f-status"],
    ]) {
      const page = await visitor.open(`/portal/webhooks/${hook.id}/deliveries?${q}`);
      expect(page.status, q).toBe(422);
      expect(page.html, q).toMatch(new RegExp(`id="${field}"[^>]*aria-invalid="true"`));
      expect(page.html, q).not.toContain(`#${id}`);
    }
    const list = (q: string) => visitor.open(`/portal/webhooks/${hook.id}/deliveries?${q}`);
    const minute = (ms: number) => new Date(ms).toISOString().slice(0, 16);
    expect((await list(`since=${minute(Date.now() - 600_000)}`)).html).toContain(`#${id}`);
    expect((await list(`since=${new Date(Date.now() - 600_000).toISOString()}`)).html).toContain(`#${id}`);
    expect((await list(`since=${minute(Date.now() + 60_000)}`)).html).not.toContain(`#${id}`);
    expect((await list(`until=${minute(Date.now() - 600_000)}`)).html).not.toContain(`#${id}`);
    expect((await list("since=1h")).html).toContain(`value="${minute(Date.now() - 3_600_000)}"`.slice(0, 20));
    // The type filter offers what this endpoint subscribes to.
    const options = [...(await list("")).html.matchAll(/<option value="([a-z_]+\.[a-z_]+)"/g)].map((m) => m[1]);
    expect(options).toContain("user.created");
    expect(options).toContain("group.member_added");
    expect(options).not.toContain("user.deleted");
    expect(options).not.toContain("partner.created");
  });

  it("each failure count in stats links to the matching deliveries", async () => {
    const { hook, visitor, csrf } = await tenantWith({ url: hookUrl({ plan: [502] }).url });
    await visitor.open(`/portal/webhooks/${hook.id}/test`, { form: { _csrf: csrf } });
    const stats = await visitor.open(`/portal/webhooks/${hook.id}/stats`);
    const link = /href="([^"]+\/deliveries\?error=5xx[^"]*)"/.exec(stats.html)![1]!.replaceAll("&amp;", "&");
    const page = await visitor.open(link);
    expect(page.status).toBe(200);
    expect([...page.html.matchAll(/deliveries\/(\d+)"/g)]).toHaveLength(1);
    expect((await visitor.open(link.replace("error=5xx", "error=timeout"))).html).toContain(
      "No deliveries match these filters",
    );
  });
});

describe("tests with real events, the catalog, small things", () => {
  it("sends the catalog's example of a subscribed type; refuses a type it does not subscribe to", async () => {
    const hookAt = hookUrl();
    const { hook, visitor, csrf } = await tenantWith({ url: hookAt.url, events: ["user.*"] });
    const overview = await visitor.open(`/portal/webhooks/${hook.id}`);
    expect(overview.html).toContain('<option value="user.created">');
    expect(overview.html).not.toContain('<option value="group.created">');
    const sent = await visitor.open(`/portal/webhooks/${hook.id}/test`, {
      form: { _csrf: csrf, event_type: "user.created" },
    });
    expect(sent.status).toBe(303);
    expect(textOf((await visitor.open(`/portal/webhooks/${hook.id}`)).html)).toContain("Test event delivered");
    const [request] = await recorded(hookAt.key);
    expect(JSON.parse(request!.body)).toMatchObject({
      event_type: "user.created",
      resource: { type: "user", id: "usr_Kp4Vn8Rt" },
      data: { email: "ada@example.com" },
    });
    const refused = await visitor.open(`/portal/webhooks/${hook.id}/test`, {
      form: { _csrf: csrf, event_type: "group.created" },
    });
    expect(refused.status).toBe(422);
    expect(textOf(refused.html)).toContain("not subscribed to 'group.created'");
  });

  it("a tenant's catalog leaves out the partner group; a partner's shows it", async () => {
    const tenantView = await PortalVisitor.signIn(await tenantAdmin(`tnt_cat${uid()}`));
    expect((await tenantView.open("/portal/events")).html).not.toContain("partner.created");
    expect((await tenantView.open("/portal/webhooks/new")).html).not.toContain('value="partner.*"');
    const partnerView = await PortalVisitor.signIn(await partnerAdmin(`prt_cat${uid()}`));
    expect((await partnerView.open("/portal/events")).html).toContain("partner.created");
  });

  it("every page names its icon, which the Worker serves", async () => {
    const visitor = await PortalVisitor.signIn(await tenantAdmin(`tnt_ico${uid()}`));
    expect((await visitor.open("/portal")).html).toContain('<link rel="icon" href="/portal/assets/favicon.svg"');
    const icon = await visitor.open("/portal/assets/favicon.svg");
    expect(icon.status).toBe(200);
    expect(icon.headers.get("content-type")).toContain("image/svg+xml");
  });
});
