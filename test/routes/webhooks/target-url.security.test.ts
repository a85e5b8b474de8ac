// The SSRF guard at the API (create and update answer 422 at ["body","url"]) and again at send time.
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { attemptDelivery } from "../../../src/domain/delivery/attempt";
import { api, createWebhook, WEBHOOKS } from "../../helpers/api";
import { attemptRows, deliveryDeps, deliveryRow, seedDelivery } from "../../helpers/deliveries";
import { productionFetch } from "../../helpers/production-app";
import { hookUrl, recorded } from "../../helpers/receiver";
import { tenantAdmin } from "../../helpers/tokens";

async function production(method: string, path: string, token: string, body?: unknown) {
  const res = await productionFetch(
    new Request(`https://webhooks.test${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    }),
  );
  return { status: res.status, body: (await res.json()) as any };
}

const notPublic = (host: string, range: string) => `URL host ${host} is not a public address (${range})`;
const resolvesTo = (host: string, address: string, range: string) =>
  `URL host ${host} resolves to ${address}, which is not a public address (${range})`;

// [url, reason under the production policy]
const REFUSED_IN_PRODUCTION: [string, string][] = [
  ["http://receiver.example.com/hook", "URL must use https"],
  ["https://user:pass@receiver.example.com/", "URL must not contain credentials"],
  ["https://127.0.0.1/", notPublic("127.0.0.1", "loopback")],
  ["https://2130706433/", notPublic("127.0.0.1", "loopback")],
  ["https://0x7f.1/", notPublic("127.0.0.1", "loopback")],
  ["https://0177.0.0.1/", notPublic("127.0.0.1", "loopback")],
  ["https://127.1/", notPublic("127.0.0.1", "loopback")],
  ["https://10.1.2.3/", notPublic("10.1.2.3", "private")],
  ["https://169.254.169.254/latest/meta-data/", notPublic("169.254.169.254", "link-local (cloud metadata)")],
  ["https://100.64.1.1/", notPublic("100.64.1.1", "shared (CGNAT)")],
  ["https://[::1]/", notPublic("[::1]", "loopback")],
  ["https://[::ffff:127.0.0.1]/", notPublic("[::ffff:7f00:1]", "IPv4-mapped")],
  ["https://[64:ff9b::a9fe:a9fe]/", notPublic("[64:ff9b::a9fe:a9fe]", "NAT64")],
  ["https://[fd00::1]/", notPublic("[fd00::1]", "unique-local")],
  ["https://localhost/", "URL host localhost is this machine (localhost)"],
  ["https://app.localhost/", "URL host app.localhost is this machine (localhost)"],
  ["https://metadata.google.internal/", "URL host metadata.google.internal is a cloud metadata service"],
  ["https://db.internal/", "URL host db.internal is in the internal-only domain .internal"],
  ["https://printer.local/", "URL host printer.local is in the internal-only domain .local"],
  ["https://receiver.example.com./", "URL host must not end with a dot"],
  ["https://receiver/", "URL host receiver is a single-label name (use a fully qualified domain name)"],
  ["https://receiver.example.com:22/", "URL port 22 is not allowed (allowed: 443)"],
  ["https://receiver.example.com:6379/", "URL port 6379 is not allowed (allowed: 443)"],
  ["https://receiver.example.com:0/", "URL port 0 is not allowed (allowed: 443)"],
  ["https://kubernetes.default.svc/", "URL host kubernetes.default.svc is in the internal-only domain .svc"],
  ["https://vault.service.consul/", "URL host vault.service.consul is in the internal-only domain .consul"],
  ["https://hooks.test/", "URL host hooks.test is in the internal-only domain .test"],
  ["https://hooks.invalid/", "URL host hooks.invalid is in the internal-only domain .invalid"],
  ["https://hooks.example/", "URL host hooks.example is in the internal-only domain .example"],
  [
    "https://duckduckgogg42xjoc72x3sjasowoarfbgcmvfimaftt6twagswzczad.onion/",
    "URL host duckduckgogg42xjoc72x3sjasowoarfbgcmvfimaftt6twagswzczad.onion is in the internal-only domain .onion",
  ],
  [`https://${"a".repeat(64)}.example.com/`, "URL host labels must be at most 63 characters"],
  ["https://127.0.0.1.nip.io/", resolvesTo("127.0.0.1.nip.io", "127.0.0.1", "loopback")],
  [
    "https://169.254.169.254.nip.io/latest/meta-data/",
    resolvesTo("169.254.169.254.nip.io", "169.254.169.254", "link-local (cloud metadata)"),
  ],
  ["https://localtest.me/", resolvesTo("localtest.me", "127.0.0.1", "loopback")],
  ["https://gone.nx.example.net/", "URL host gone.nx.example.net does not resolve"],
];

// The development switches admit loopback only; these stay refused even there.
const REFUSED_EVEN_IN_DEVELOPMENT: [string, string][] = [
  ["http://10.0.0.1/", notPublic("10.0.0.1", "private")],
  ["http://169.254.169.254/latest/meta-data/", notPublic("169.254.169.254", "link-local (cloud metadata)")],
  ["http://0251.0376.0251.0376/", notPublic("169.254.169.254", "link-local (cloud metadata)")],
  ["http://192.168.0.1/", notPublic("192.168.0.1", "private")],
  ["http://[::ffff:7f00:1]/", notPublic("[::ffff:7f00:1]", "IPv4-mapped")],
  ["http://metadata/", "URL host metadata is a cloud metadata service"],
  ["ftp://receiver.example.com/", "URL scheme must be http or https"],
  [
    "http://169.254.169.254.nip.io/",
    resolvesTo("169.254.169.254.nip.io", "169.254.169.254", "link-local (cloud metadata)"),
  ],
  ["http://hooks.10.0.0.7.nip.io/", resolvesTo("hooks.10.0.0.7.nip.io", "10.0.0.7", "private")],
  ["http://receiver.example.com:6379/", "URL port 6379 is not allowed (allowed: 443, 80)"],
];

const count = async () =>
  (await env.DB.prepare("SELECT COUNT(*) AS n FROM webhook_endpoints").first<{ n: number }>())!.n;
/** A refused target as pydantic reports a validator's ValueError: the URL as sent, the reason after "Value error, ". */
const urlError = (url: string, reason: string) => ({
  detail: [
    { type: "value_error", loc: ["body", "url"], msg: `Value error, ${reason}`, input: url, ctx: { error: {} } },
  ],
});

let token: string;
let webhookId: string;
beforeAll(async () => {
  token = await tenantAdmin("tnt_ssrf", "prt_ssrf");
  webhookId = (await createWebhook(token)).id;
});

describe("production policy", () => {
  it("accepts a public https target", async () => {
    const res = await production("POST", `${WEBHOOKS}/`, token, {
      url: "https://receiver.example.com/hook",
      events: ["*"],
    });
    expect(res.status).toBe(201);
  });

  it.each(REFUSED_IN_PRODUCTION)("POST refuses %s with 422 and stores nothing", async (url, reason) => {
    const before = await count();
    const res = await production("POST", `${WEBHOOKS}/`, token, { url, events: ["*"] });
    expect(res.status).toBe(422);
    expect(res.body).toEqual(urlError(url, reason));
    expect(await count()).toBe(before);
  });

  it.each(REFUSED_IN_PRODUCTION)("PATCH refuses %s with 422 and changes nothing", async (url, reason) => {
    const before = await api("GET", `${WEBHOOKS}/${webhookId}`, { token });
    const res = await production("PATCH", `${WEBHOOKS}/${webhookId}`, token, { url, description: "changed" });
    expect(res.status).toBe(422);
    expect(res.body).toEqual(urlError(url, reason));
    expect((await api("GET", `${WEBHOOKS}/${webhookId}`, { token })).body).toEqual(before.body);
  });
});

describe("DNS resolver trouble", () => {
  it("answers 503 on create and update when the resolver cannot answer, and stores nothing", async () => {
    const before = await count();
    const created = await production("POST", `${WEBHOOKS}/`, token, {
      url: "https://x.servfail.example.net/",
      events: ["*"],
    });
    expect(created.status).toBe(503);
    expect(created.body.detail).toMatch(/^URL host x\.servfail\.example\.net could not be resolved right now/);
    expect(await count()).toBe(before);
    const patched = await production("PATCH", `${WEBHOOKS}/${webhookId}`, token, {
      url: "https://x.servfail.example.net/",
    });
    expect(patched.status).toBe(503);
  });
});

describe("development policy (the Worker under test)", () => {
  it("accepts the local receiver on 127.0.0.1", async () => {
    const res = await api("POST", `${WEBHOOKS}/`, { token, body: { url: hookUrl().url, events: ["*"] } });
    expect(res.status).toBe(201);
  });

  it.each(REFUSED_EVEN_IN_DEVELOPMENT)("POST and PATCH refuse %s", async (url, reason) => {
    const before = await count();
    const created = await api("POST", `${WEBHOOKS}/`, { token, body: { url, events: ["*"] } });
    expect(created.status).toBe(422);
    expect(created.body).toEqual(urlError(url, reason));
    expect(await count()).toBe(before);
    const patched = await api("PATCH", `${WEBHOOKS}/${webhookId}`, { token, body: { url } });
    expect(patched.status).toBe(422);
    expect(patched.body).toEqual(urlError(url, reason));
  });
});

describe("send time", () => {
  it("refuses to send to a target the current policy forbids, without touching the network", async () => {
    // Stored while private targets were allowed; the production policy applies when the attempt runs.
    const hook = hookUrl();
    const wh = await createWebhook(token, { url: hook.url });
    const id = await seedDelivery(wh.id, "tnt_ssrf");
    const outcome = await attemptDelivery(deliveryDeps({ now: Date.now() }, { allowPrivateTargets: false }), id);
    expect(outcome).toMatchObject({ kind: "attempted", status: "retrying" });
    const [attempt] = await attemptRows(id);
    expect(attempt).toMatchObject({ error_class: "blocked_target", status_code: null });
    expect(attempt!.error).toBe(notPublic("127.0.0.1", "loopback"));
    expect((await deliveryRow(id))!.last_error).toBe(`blocked_target: ${notPublic("127.0.0.1", "loopback")}`);
    expect(await recorded(hook.key)).toEqual([]);
  });

  it("refuses a name that resolves to a private address at send time", async () => {
    const wh = await createWebhook(token, { url: "https://receiver.example.com/hook" });
    // Re-pointed after creation (DNS rebinding): the stored name now answers with the metadata address.
    await env.DB.prepare("UPDATE webhook_endpoints SET url = 'https://169.254.169.254.nip.io/hook' WHERE id = ?")
      .bind(wh.id)
      .run();
    const id = await seedDelivery(wh.id, "tnt_ssrf");
    await attemptDelivery(deliveryDeps({ now: Date.now() }), id);
    expect((await attemptRows(id))[0]).toMatchObject({
      error_class: "blocked_target",
      error: resolvesTo("169.254.169.254.nip.io", "169.254.169.254", "link-local (cloud metadata)"),
    });
  });

  it("fails the attempt as dns, to be retried, when the resolver cannot answer at send time", async () => {
    const wh = await createWebhook(token, { url: "https://receiver.example.com/hook" });
    await env.DB.prepare("UPDATE webhook_endpoints SET url = 'https://y.servfail.example.net/hook' WHERE id = ?")
      .bind(wh.id)
      .run();
    const id = await seedDelivery(wh.id, "tnt_ssrf");
    expect(await attemptDelivery(deliveryDeps({ now: Date.now() }), id)).toMatchObject({ status: "retrying" });
    expect((await attemptRows(id))[0]).toMatchObject({ error_class: "dns" });
  });

  it("refuses plain http at send time when insecure URLs are off", async () => {
    const hook = hookUrl();
    const wh = await createWebhook(token, { url: hook.url });
    const id = await seedDelivery(wh.id, "tnt_ssrf");
    await attemptDelivery(deliveryDeps({ now: Date.now() }, { allowInsecureUrls: false }), id);
    expect((await attemptRows(id))[0]).toMatchObject({
      error_class: "blocked_target",
      error: "URL must use https",
    });
    expect(await recorded(hook.key)).toEqual([]);
  });
});
