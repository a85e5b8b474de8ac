#!/usr/bin/env node
// `npm run -s portal-link [-- --tenant tnt_demo --read-only --port 8787]`: a fresh single-use link into the delivery portal
// of the local Worker, issued the way a platform does it: a tenant admin's token (scripts/token.mjs) calls
// POST /api/v1/admin/webhooks/portal-sessions. `npm start` calls printPortalLinkWhenReady once wrangler dev answers.
import { spawnSync } from "node:child_process";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
export const DEMO_TENANT = "tnt_demo";

/** A portal link for `tenant` from the Worker at `base`; throws with the API's answer when it refuses. */
export async function issuePortalLink(base, { tenant = DEMO_TENANT, readOnly = false, expiresIn = 3600 } = {}) {
  const minted = spawnSync(
    process.execPath,
    [
      join(root, "scripts/token.mjs"),
      "--role",
      "tenant_admin",
      "--tenant",
      tenant,
      "--scope",
      "admin:read admin:write",
    ],
    { encoding: "utf8" },
  );
  if (minted.status !== 0) throw new Error(`could not mint a token: ${minted.stderr.trim()}`);
  const res = await fetch(`${base}/api/v1/admin/webhooks/portal-sessions`, {
    method: "POST",
    headers: { authorization: `Bearer ${minted.stdout.trim()}`, "content-type": "application/json" },
    body: JSON.stringify({ read_only: readOnly, expires_in: expiresIn }),
  });
  const body = await res.json().catch(() => null);
  if (res.status !== 201) throw new Error(`portal-sessions answered ${res.status}: ${JSON.stringify(body)}`);
  return body;
}

/** Waits (up to 2 minutes) for the local Worker, then prints a portal link for the demo tenant. Never throws. */
export async function printPortalLinkWhenReady(base, say) {
  const until = Date.now() + 120_000;
  while (Date.now() < until) {
    try {
      const { url, expires_at } = await issuePortalLink(base);
      say(
        `\n  Portal     ${url}\n             (tenant ${DEMO_TENANT}, single use, until ${expires_at}; another: npm run -s portal-link)\n`,
      );
      return;
    } catch (err) {
      if (!(err instanceof TypeError)) {
        say(`\n  Portal     could not issue a link: ${err.message}\n`);
        return;
      }
    }
    await new Promise((r) => setTimeout(r, 1000)); // not listening yet
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({
    options: {
      tenant: { type: "string", default: DEMO_TENANT },
      "read-only": { type: "boolean", default: false },
      "expires-in": { type: "string", default: "3600" },
      port: { type: "string", default: "8787" },
    },
  });
  try {
    const { url } = await issuePortalLink(`http://localhost:${values.port}`, {
      tenant: values.tenant,
      readOnly: values["read-only"],
      expiresIn: Number(values["expires-in"]),
    });
    process.stdout.write(`${url}\n`);
  } catch (err) {
    process.stderr.write(
      `npm run portal-link: ${err.message}${err instanceof TypeError ? " (is `npm start` running?)" : ""}\n`,
    );
    process.exit(1);
  }
}
