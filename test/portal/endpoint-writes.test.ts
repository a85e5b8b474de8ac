// The portal's endpoint form and the API share one write path (domain/webhook-writes.ts): whatever the API refuses,
// the portal refuses with the same reason, the DNS check of the target's name included, and stores nothing.
import { exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { api, createWebhook, WEBHOOKS } from "../helpers/api";
import { seedLiveWebhooks } from "../helpers/deliveries";
import { PortalVisitor, textOf } from "../helpers/portal";
import { productionFetch } from "../helpers/production-app";
import { firstOfOwner } from "../helpers/shards";
import { tenantAdmin } from "../helpers/tokens";

const uid = () => crypto.randomUUID().replaceAll("-", "").slice(0, 10);
const liveCount = async (tenant: string) =>
  (await firstOfOwner<{ n: number }>(
    `t:${tenant}`,
    "SELECT count(*) AS n FROM webhook_endpoints WHERE tenant_id = ? AND deleted_at IS NULL",
    tenant,
  ))!.n;

type Fetcher = (request: Request) => Promise<Response>;
const apiVia = async (fetcher: Fetcher, method: string, path: string, token: string, body: unknown) => {
  const res = await fetcher(
    new Request(`https://webhooks.test${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify(body),
    }),
  );
  return { status: res.status, body: (await res.json()) as { detail: { loc: string[]; msg: string }[] } };
};
/** The Worker under test: the development policy (vitest.config.ts), which admits loopback only. */
const developmentFetch: Fetcher = (r) => exports.default.fetch(r);

// [label, target, the app (its policy)]: names that resolve to a non-public address or not at all, and URLs the
// policy refuses by their form.
const REFUSED: [string, string, "production" | "development"][] = [
  ["a name that resolves to loopback", "https://127.0.0.1.nip.io/hook", "production"],
  ["a name that resolves to loopback, another spelling", "https://localtest.me/hook", "production"],
  ["a name that resolves to cloud metadata", "http://169.254.169.254.nip.io/latest/meta-data/", "development"],
  ["a name that resolves to a private address", "http://hooks.10.0.0.7.nip.io/", "development"],
  ["a name that does not resolve", "https://gone.nx.example.net/hook", "development"],
  ["a name whose CNAME points to a private address", "https://cname.dns.example.net/", "development"],
  ["a private address", "http://10.0.0.1/", "development"],
  ["a port the policy does not allow", "http://receiver.example.com:6379/", "development"],
  ["plain http in production", "http://receiver.example.com/hook", "production"],
];

describe("the portal refuses what the API refuses", () => {
  it.each(REFUSED)("%s (%s, %s policy): create and edit", async (_label, url, policy) => {
    const fetcher: Fetcher = policy === "production" ? productionFetch : developmentFetch;
    const tenant = `tnt_par${uid()}`;
    const token = await tenantAdmin(tenant);
    const existing = await createWebhook(token, { url: "https://receiver.example.com/ok", events: ["*"] });

    const fromApi = await apiVia(fetcher, "POST", `${WEBHOOKS}/`, token, { url, events: ["*"] });
    expect(fromApi.status).toBe(422);
    expect(fromApi.body.detail[0]!.loc).toEqual(["body", "url"]);
    const reason = fromApi.body.detail[0]!.msg;
    const patched = await apiVia(fetcher, "PATCH", `${WEBHOOKS}/${existing.id}`, token, { url });
    expect(patched.body.detail[0]!.msg).toBe(reason);

    const visitor = await PortalVisitor.signIn(token, {}, fetcher);
    const csrf = await visitor.csrf();
    const created = await visitor.open("/portal/webhooks", {
      form: { _csrf: csrf, url, events: "*", enabled: "on" },
    });
    expect(created.status).toBe(422);
    expect(textOf(created.html)).toContain(reason);
    expect(created.html).toMatch(/id="url"[^>]*aria-invalid="true"/);
    const edited = await visitor.open(`/portal/webhooks/${existing.id}/edit`, {
      form: { _csrf: csrf, url, events: "*", enabled: "on" },
    });
    expect(edited.status).toBe(422);
    expect(textOf(edited.html)).toContain(reason);

    expect(await liveCount(tenant)).toBe(1);
    expect((await api("GET", `${WEBHOOKS}/${existing.id}`, { token })).body.url).toBe(
      "https://receiver.example.com/ok",
    );
  });

  it("a target the resolver cannot check now is a 503 in both, and nothing is stored", async () => {
    const tenant = `tnt_par${uid()}`;
    const token = await tenantAdmin(tenant);
    const url = "https://x.servfail.example.net/hook";
    expect((await apiVia(productionFetch, "POST", `${WEBHOOKS}/`, token, { url, events: ["*"] })).status).toBe(503);
    const visitor = await PortalVisitor.signIn(token, {}, productionFetch);
    const created = await visitor.open("/portal/webhooks", {
      form: { _csrf: await visitor.csrf(), url, events: "*", enabled: "on" },
    });
    expect(created.status).toBe(503);
    expect(await liveCount(tenant)).toBe(0);
  });

  it("the owner's webhook limit holds in the portal too", async () => {
    const tenant = `tnt_parcap${uid()}`;
    await seedLiveWebhooks(tenant, 100);
    const token = await tenantAdmin(tenant);
    const fromApi = await api("POST", `${WEBHOOKS}/`, {
      token,
      body: { url: "https://receiver.example.com/hook", events: ["*"] },
    });
    expect(fromApi.status).toBe(422);
    const visitor = await PortalVisitor.signIn(token);
    const created = await visitor.open("/portal/webhooks", {
      form: { _csrf: await visitor.csrf(), url: "https://receiver.example.com/hook", events: "*", enabled: "on" },
    });
    expect(created.status).toBe(422);
    expect(textOf(created.html)).toContain(fromApi.body.detail[0].msg);
    expect(await liveCount(tenant)).toBe(100);
  });

  it("what the API accepts, the portal accepts, with the same owner", async () => {
    const tenant = `tnt_parok${uid()}`;
    const token = await tenantAdmin(tenant);
    const visitor = await PortalVisitor.signIn(token, {}, productionFetch);
    const created = await visitor.open("/portal/webhooks", {
      form: { _csrf: await visitor.csrf(), url: "https://receiver.example.com/hook", events: "*", enabled: "on" },
    });
    expect(created.status).toBe(303);
    const listed = await api("GET", `${WEBHOOKS}/`, { token });
    expect(listed.body.items).toEqual([
      expect.objectContaining({ tenant_id: tenant, partner_id: null, url: "https://receiver.example.com/hook" }),
    ]);
  });
});
