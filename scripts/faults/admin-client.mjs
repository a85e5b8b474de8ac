// The fault run's client of the Worker: the admin API retrying what injected D1 errors turn into (500s), endpoint
// creation that survives a 500 (create is not idempotent), and the cron trigger.
import { sleep } from "../lib/cli.mjs";

/**
 * A client of `baseUrl` with `token`; `stats` counts requests and the 5xx it retried. `gate()` resolves when the Worker
 * may be called (the harness holds it while it restarts a Worker it killed).
 */
export function createAdminClient(baseUrl, token, { gate = async () => {} } = {}) {
  const stats = { requests: 0, retried5xx: 0 };
  const cronRuns = { ok: 0, failed: 0 };

  async function api(method, path, body, { tries = 12 } = {}) {
    for (let i = 1; ; i++) {
      await gate();
      stats.requests++;
      let res;
      let text;
      try {
        res = await fetch(`${baseUrl}${path}`, {
          method,
          headers: {
            authorization: `Bearer ${token}`,
            ...(body === undefined ? {} : { "content-type": "application/json" }),
          },
          body: body === undefined ? undefined : JSON.stringify(body),
          signal: AbortSignal.timeout(30_000),
        });
        text = await res.text(); // a Worker killed mid-answer ends the body too
      } catch (err) {
        if (i >= tries) throw new Error(`${method} ${path}: ${err.message}`);
        await sleep(200 * i);
        continue;
      }
      if (res.status >= 500 && i < tries) {
        stats.retried5xx++;
        await sleep(50 * 2 ** Math.min(i, 5));
        continue;
      }
      if (res.status >= 400) throw new Error(`${method} ${path}: ${res.status} ${text.slice(0, 300)}`);
      return { status: res.status, body: text ? JSON.parse(text) : null };
    }
  }

  /** Creates endpoint `e` with `body`; after an injected 500 it may or may not exist, so look before trying again. */
  async function createEndpoint(e, body) {
    try {
      return await api("POST", "/api/v1/admin/webhooks/", body, { tries: 1 });
    } catch (err) {
      if (!/: 5\d\d /.test(err.message)) throw err;
    }
    for (let i = 0; i < 10; i++) {
      const owner = e.tenant_id ? `tenant_id=${e.tenant_id}` : `partner_id=${e.partner_id}`;
      const list = await api("GET", `/api/v1/admin/webhooks/?${owner}&per_page=100`);
      const found = list.body.items.find((w) => w.url === body.url);
      if (found) return { status: 200, body: found };
      try {
        return await api("POST", "/api/v1/admin/webhooks/", body, { tries: 1 });
      } catch (err) {
        if (!/: 5\d\d /.test(err.message)) throw err;
      }
    }
    throw new Error(`could not create endpoint ${e.name}`);
  }

  /** Runs the scheduled handler for `expr` through the harness entry's GET /__scheduled. */
  async function cron(expr) {
    await gate();
    try {
      const res = await fetch(`${baseUrl}/__scheduled?cron=${encodeURIComponent(expr).replaceAll("%20", "+")}`, {
        signal: AbortSignal.timeout(30_000),
      });
      await res.text();
      cronRuns[res.ok ? "ok" : "failed"]++;
    } catch {
      cronRuns.failed++;
    }
  }

  return { baseUrl, token, api, createEndpoint, cron, stats, cronRuns };
}
