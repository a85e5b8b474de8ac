// recover and replay: what they refuse, and how (422 with the field, 409 while disabled, 404 for an unknown webhook).
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { readConfig } from "../../../src/lib/config";
import { api, createWebhook, WEBHOOKS } from "../../helpers/api";
import { tenantAdmin } from "../../helpers/tokens";

const DAY_MS = 24 * 3_600_000;
const iso = (ms: number) => new Date(ms).toISOString();
const OPERATIONS = ["recover", "replay"] as const;

async function webhook(extra: Record<string, unknown> = {}) {
  const token = await tenantAdmin(`tnt_rerr${crypto.randomUUID().slice(0, 8)}`);
  const wh = await createWebhook(token, { events: ["user.*"], ...extra });
  return { ...wh, token };
}

describe.each(OPERATIONS)("POST …/{webhook_id}/%s refuses", (operation) => {
  const call = async (body: unknown, wh?: { id: string; token: string }) => {
    const target = wh ?? (await webhook());
    return api("POST", `${WEBHOOKS}/${target.id}/${operation}`, { token: target.token, body });
  };
  const oneIssue = (res: Awaited<ReturnType<typeof call>>) => {
    expect(res.status, JSON.stringify(res.body)).toBe(422);
    expect(res.body.detail).toHaveLength(1);
    return res.body.detail[0];
  };

  it("malformed dates and a missing since", async () => {
    for (const since of ["yesterday", "2026-13-01T00:00:00Z", "", "2026-11-24T01:05:00", true])
      expect(oneIssue(await call({ since })).loc).toEqual(["body", "since"]);
    expect(oneIssue(await call({ since: iso(Date.now() - 1000), until: "soon" })).loc).toEqual(["body", "until"]);
    expect(oneIssue(await call({}))).toMatchObject({ loc: ["body", "since"], type: "missing" });
  });

  it("takes what pydantic's datetime takes, and ignores unknown fields", async () => {
    const since = Date.now() - 60_000;
    for (const form of [
      new Date(since).toISOString().replace("T", " ").replace("Z", "+0000"), // a space, an offset without colon
      Math.floor(since / 1000), // a Unix timestamp in seconds
      String(since), // in milliseconds, as a string
    ]) {
      const res = await call({ since: form, colour: "red" });
      expect(res.status, JSON.stringify(res.body)).toBe(202);
      expect(Date.parse(res.body.since) - since).toBeLessThan(1000);
    }
  });

  it("a window that starts before the retention horizon", async () => {
    const retentionDays = readConfig(env).retentionDays;
    const issue = oneIssue(await call({ since: iso(Date.now() - (retentionDays + 1) * DAY_MS) }));
    expect(issue.loc).toEqual(["body", "since"]);
    expect(issue.msg).toMatch(/retention horizon/);
    expect((await call({ since: iso(Date.now() - (retentionDays - 1) * DAY_MS) })).status).toBe(202);
  });

  it("until not after since", async () => {
    const since = Date.now() - 60_000;
    for (const until of [since, since - 1]) {
      const issue = oneIssue(await call({ since: iso(since), until: iso(until) }));
      expect(issue).toMatchObject({
        type: "value_error",
        loc: ["body", "until"],
        msg: "Value error, until must be after since",
        input: iso(until),
      });
    }
    expect(oneIssue(await call({ since: iso(Date.now() + 60_000) })).loc).toEqual(["body", "since"]);
  });

  it("a disabled webhook, with the retry endpoint's message", async () => {
    const wh = await webhook({ enabled: false });
    const res = await call({ since: iso(Date.now() - 1000) }, wh);
    expect(res.status).toBe(409);
    expect(res.body).toEqual({ detail: "Webhook is disabled: enable it (PATCH enabled=true) before retrying" });
  });

  it("an unknown webhook", async () => {
    const token = await tenantAdmin("tnt_rerr");
    const res = await api("POST", `${WEBHOOKS}/wh_doesnotexist/${operation}`, {
      token,
      body: { since: iso(Date.now() - 1000) },
    });
    expect(res.status).toBe(404);
  });
});

describe("replay refuses event types", () => {
  it("outside the catalog, outside the subscription, or the service's own", async () => {
    const wh = await webhook(); // user.*
    const since = iso(Date.now() - 1000);
    const cases: [unknown, (string | number)[], RegExp][] = [
      [["user.exploded"], ["body", "event_types", 0], /Unknown event type/],
      [["user.created", "group.created"], ["body", "event_types", 1], /not subscribed/],
    ];
    // The service's own announcements, as publishing refuses them, even where the webhook subscribes to them.
    const announcements = await webhook({ events: ["webhook.*", "user.*"] });
    for (const type of ["webhook.test", "webhook.auto_disabled"]) {
      const res = await api("POST", `${WEBHOOKS}/${announcements.id}/replay`, {
        token: announcements.token,
        body: { since, event_types: ["user.created", type] },
      });
      expect(res.status).toBe(422);
      expect(res.body.detail).toEqual([
        {
          type: "value_error",
          loc: ["body", "event_types", 1],
          msg: `Value error, '${type}' is sent only by the webhook service itself and is never replayed`,
          input: type,
          ctx: { error: {} },
        },
      ]);
    }
    for (const [eventTypes, loc, msg] of cases) {
      const res = await api("POST", `${WEBHOOKS}/${wh.id}/replay`, {
        token: wh.token,
        body: { since, event_types: eventTypes },
      });
      expect(res.status).toBe(422);
      expect(res.body.detail[0].loc).toEqual(loc);
      expect(res.body.detail[0].msg).toMatch(msg);
    }
    const empty = await api("POST", `${WEBHOOKS}/${wh.id}/replay`, {
      token: wh.token,
      body: { since, event_types: [] },
    });
    expect(empty.body.detail[0].loc).toEqual(["body", "event_types"]);
    const ok = await api("POST", `${WEBHOOKS}/${wh.id}/replay`, {
      token: wh.token,
      body: { since, event_types: ["user.created"] },
    });
    expect(ok.status).toBe(202);
  });
});
