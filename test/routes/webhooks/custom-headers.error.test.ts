// Custom headers are capped in total, not only per header: receivers refuse oversized header sections (431).
import { describe, expect, it } from "vitest";
import { api, createWebhook, WEBHOOKS } from "../../helpers/api";
import { tenantAdmin } from "../../helpers/tokens";

const headers = (n: number, valueLength: number) =>
  Object.fromEntries(
    Array.from({ length: n }, (_, i) => [`X-Custom-${String(i).padStart(2, "0")}`, "v".repeat(valueLength)]),
  );
const TOTAL_MSG =
  "Value error, Custom headers must add up to at most 8192 bytes (names, values and ': ' and CRLF per header)";

describe("custom headers total size", () => {
  it("refuses 20 × 1 KiB on create with a 422 at body.headers", async () => {
    const res = await api("POST", `${WEBHOOKS}/`, {
      token: await tenantAdmin("tnt_hdr"),
      body: { url: "https://receiver.example.com/", events: ["*"], headers: headers(20, 1024) },
    });
    expect(res.status).toBe(422);
    expect(res.body).toEqual({
      detail: [
        { type: "value_error", loc: ["body", "headers"], msg: TOTAL_MSG, input: headers(20, 1024), ctx: { error: {} } },
      ],
    });
  });

  it("refuses it on update and keeps the stored headers", async () => {
    const token = await tenantAdmin("tnt_hdr");
    const wh = await createWebhook(token, { headers: { "X-Keep": "1" } });
    const res = await api("PATCH", `${WEBHOOKS}/${wh.id}`, { token, body: { headers: headers(9, 1000) } });
    expect(res.status).toBe(422);
    expect(res.body.detail[0]).toMatchObject({ loc: ["body", "headers"], msg: TOTAL_MSG });
    expect((await api("GET", `${WEBHOOKS}/${wh.id}`, { token })).body.headers).toEqual({ "X-Keep": "1" });
  });

  it("accepts headers up to the cap", async () => {
    // 8 × (12-byte name + 1000-byte value + 4) = 8128 bytes.
    const wh = await createWebhook(await tenantAdmin("tnt_hdr"), { headers: headers(8, 1000) });
    expect(Object.keys(wh.headers)).toHaveLength(8);
  });
});
