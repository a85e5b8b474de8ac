// The pages stay light: every screen of a tenant with five endpoints and a few hundred deliveries, as HTML bytes
// (raw and gzipped, as sent), within a budget. The figures are printed, for docs/portal.md.
import { describe, expect, it } from "vitest";
import { api, createWebhook, WEBHOOKS } from "../helpers/api";
import { seedDelivery, updateDeliveries } from "../helpers/deliveries";
import { PortalVisitor } from "../helpers/portal";
import { hookUrl } from "../helpers/receiver";
import { tenantAdmin } from "../helpers/tokens";

/** Gzipped HTML per screen, at most (the stylesheet and script, about 5 KB gzipped, are cached after the first page). */
const SCREEN_BUDGET_GZIP = 12 * 1024;

async function gzipSize(text: string): Promise<number> {
  const stream = new Blob([text]).stream().pipeThrough(new CompressionStream("gzip"));
  return (await new Response(stream).arrayBuffer()).byteLength;
}

describe("page weight", () => {
  it("every screen is a few KB of HTML", async () => {
    const tenant = "tnt_weight";
    const token = await tenantAdmin(tenant);
    const hooks = [];
    for (let i = 0; i < 5; i++)
      hooks.push(await createWebhook(token, { url: hookUrl().url, events: ["*"], description: `Endpoint ${i}` }));
    const now = Date.now();
    const seeded = [];
    for (let i = 0; i < 60; i++) seeded.push(await seedDelivery(hooks[i % 5]!.id, tenant, now - i * 1000));
    const id = hooks[0]!.id;
    await updateDeliveries(
      seeded.filter((d) => d.webhookId === id),
      {
        status: "failed",
        attempt_count: 3,
        last_status_code: 500,
        last_error_class: "http_5xx",
        last_error: "http_5xx: HTTP 500",
        last_attempt_at: now,
        completed_at: now,
        in_queue: 0,
      },
    );
    const delivery = (await api("GET", `${WEBHOOKS}/${id}/deliveries`, { token })).body.items[0]!.id;
    const visitor = await PortalVisitor.signIn(token);
    const screens: [string, string][] = [
      ["endpoints", "/portal"],
      ["endpoint", `/portal/webhooks/${id}`],
      ["edit", `/portal/webhooks/${id}/edit`],
      ["deliveries", `/portal/webhooks/${id}/deliveries`],
      ["delivery", `/portal/webhooks/${id}/deliveries/${delivery}`],
      ["stats", `/portal/webhooks/${id}/stats`],
      ["rotate", `/portal/webhooks/${id}/rotate`],
      ["events", "/portal/events"],
      ["all deliveries", "/portal/deliveries"],
      ["recover", `/portal/webhooks/${id}/recover`],
      ["replay", `/portal/webhooks/${id}/replay`],
    ];
    const rows: string[] = [];
    for (const [name, path] of screens) {
      const page = await visitor.open(path);
      if (page.status !== 200) {
        rows.push(`${name}: ${page.status}`);
        continue;
      }
      const raw = new TextEncoder().encode(page.html).byteLength;
      const gz = await gzipSize(page.html);
      rows.push(`${name}: ${raw} B raw, ${gz} B gzip`);
      expect(gz, name).toBeLessThanOrEqual(SCREEN_BUDGET_GZIP);
    }
    console.log(`page weights\n${rows.join("\n")}`);
  });
});
