// Event data is delivered exactly as published: through the real route, queue consumer and a real local receiver,
// every body arrives byte for byte as ScaiKey's Python sender writes it, json.dumps(json.loads(published),
// separators=(",", ":"), sort_keys=True). Expected bodies come from Python only: a committed corpus
// (scripts/gen-python-json-corpus.py) and random bodies judged by python3 at setup (python-json-global-setup.ts).
import { createExecutionContext } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import { describe, expect, inject, it } from "vitest";
import corpus from "../fixtures/python-json-corpus.json";
import { api, createWebhook, WEBHOOKS } from "../helpers/api";
import { scaiKeyReceiverAccepts, storedPayloads, waitFor } from "../helpers/deliveries";
import { hookUrl, type RecordedRequest, recorded } from "../helpers/receiver";
import { mintToken, tenantAdmin } from "../helpers/tokens";

interface Case {
  body: string;
  /** Python's output; null where Python's value is not JSON (a float beyond the double range). */
  expected: string | null;
}

const OUT_OF_RANGE = "Value error, data must not contain numbers outside the range JSON can carry (such as 1e400)";

/** Publishes every body for `tenant`/`partner` to one new endpoint and returns what that endpoint received, by event id. */
async function publishAndReceive(tenant: string, partner: string, cases: Case[]) {
  const hook = hookUrl();
  const webhook = await createWebhook(await tenantAdmin(tenant, partner), { url: hook.url, events: ["*"] });
  const token = await mintToken({ role: null, tenant, partner, scope: "webhooks:publish" });
  const statuses: { status: number; body: any }[] = [];
  for (let i = 0; i < cases.length; i += 8) {
    const slice = cases.slice(i, i + 8);
    const results = await Promise.all(
      slice.map((c) =>
        api("POST", "/api/v1/events", { token, rawBody: c.body, headers: { "content-type": "application/json" } }),
      ),
    );
    statuses.push(...results);
  }
  const delivered = cases.filter((c) => c.expected !== null).length;
  const requests = await waitFor(async () => {
    const got = await recorded(hook.key);
    return got.length >= delivered && got;
  }, 90_000);
  const received = new Map<string, RecordedRequest>(requests.map((r) => [r.headers["x-scaikey-event-id"]!, r]));
  return {
    statuses,
    received,
    secret: webhook.secret as string,
    webhookId: webhook.id,
    reader: await tenantAdmin(tenant, partner),
  };
}

const eventIdOf = (body: string) => /"event_id":"(evt_[A-Za-z0-9_]+)"/.exec(body)![1]!;

async function expectDeliveredAsPython(tenant: string, partner: string, cases: Case[], label: string) {
  const { statuses, received, secret, webhookId, reader } = await publishAndReceive(tenant, partner, cases);
  for (const [i, c] of cases.entries()) {
    const id = eventIdOf(c.body);
    if (c.expected === null) {
      expect(statuses[i], `${label}: ${c.body}`).toMatchObject({
        status: 422,
        body: { detail: [{ loc: ["body", "data"], msg: OUT_OF_RANGE }] },
      });
      continue;
    }
    expect(statuses[i]!.status, `${label}: ${c.body} → ${JSON.stringify(statuses[i]!.body)}`).toBe(202);
    const request = received.get(id);
    expect(request?.body, `${label}: published ${c.body}`).toBe(c.expected);
    expect(await scaiKeyReceiverAccepts(request!, secret), `${label}: signature over ${id}`).toBe(true);
    const [stored] = await storedPayloads(id);
    expect(stored, `${label}: stored ${id}`).toBe(c.expected);
    // GET …/deliveries/{id} shows the payload that was signed and delivered, byte for byte (no JSON.parse round trip).
    const detail = await exports.default.fetch(
      new Request(
        `https://webhooks.test${WEBHOOKS}/${webhookId}/deliveries/${request!.headers["x-scaikey-webhook-id"]}`,
        {
          headers: { authorization: `Bearer ${reader}` },
        },
      ),
    );
    const text = await detail.text();
    expect(text, `${label}: detail of ${id}`).toContain(`,"payload":${c.expected},"attempts":[`);
    expect(JSON.parse(text).event_id).toBe(id);
  }
}

describe("event data is delivered exactly as ScaiKey's Python sender writes it", { timeout: 180_000 }, () => {
  it(`the committed corpus: the examples of changed numbers, then ${corpus.cases.length - corpus.meta.examples} random bodies (Python ${corpus.meta.python})`, async () => {
    const [example] = corpus.cases;
    expect(example!.body).toContain('"data":{"f":1.0,"big":12345678901234567890,"e":1e21,"neg0":-0.0}');
    expect(example!.expected).toContain('"data":{"big":12345678901234567890,"e":1e+21,"f":1.0,"neg0":-0.0}');
    await expectDeliveredAsPython("tnt_corpus", "prt_corpus", corpus.cases, "corpus");
  });

  it("random bodies from fast-check, judged by python3 at setup", async () => {
    const { seed, cases } = JSON.parse(inject("pythonJsonCases")) as { seed: number; cases: Case[] };
    expect(cases.length).toBeGreaterThan(0);
    await expectDeliveredAsPython(
      "tnt_prop",
      "prt_prop",
      cases,
      `seed ${seed} (replay with JSON_PROPERTY_SEED=${seed})`,
    );
  });

  it("over the service binding, bigints are delivered as exact ints and numbers as JavaScript holds them", async () => {
    const { WebhooksService } = await import("../../src/index");
    const hook = hookUrl();
    await createWebhook(await tenantAdmin("tnt_rpc_exact"), { url: hook.url, events: ["*"] });
    const service = new WebhooksService(createExecutionContext(), env);
    const data = { id: 12345678901234567890n, ratio: 0.5, count: 3, tiny: 1e-7, whole: 1e21 };
    await service.publish({
      event_type: "tenant.updated",
      tenant_id: "tnt_rpc_exact",
      resource: { type: "tenant", id: "t" },
      data,
    });
    const [request] = await waitFor(async () => {
      const got = await recorded(hook.key);
      return got.length > 0 && got;
    });
    // A JavaScript number has no int/float distinction: integral values go out as ints.
    expect(request!.body).toContain(
      '"data":{"count":3,"id":12345678901234567890,"ratio":0.5,"tiny":1e-07,"whole":1000000000000000000000}',
    );
  });
});
