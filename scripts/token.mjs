#!/usr/bin/env node
// `npm run token -- [options]`: prints a development access token for the local Worker (`npm start`).
// HS256 with JWT_SECRET from .dev.vars, and ScaiKey's claim names, exactly what src/auth/jwt.ts verifies when no JWKS is configured.
// Only the token (or --help) goes to stdout, so `TOKEN=$(npm run -s token -- ...)` works; everything else goes to stderr.
import { existsSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseCli, usageError } from "./lib/cli.mjs";

const ROLES = ["super_admin", "partner_admin", "tenant_admin"]; // as lib/token.mjs; repeated so --help works without jose
const USAGE = `Usage: npm run -s token -- [options]

Prints a development JWT (HS256, JWT_SECRET from .dev.vars) for the local Worker.

Options:
  --role <role>       super_admin (default), partner_admin, tenant_admin, or none (no role claim)
  --tenant <id>       tenant_id claim, e.g. tnt_demo (also names the issuer: <JWT_ISSUER>tenants/<id>)
  --partner <id>      partner_id claim, e.g. prt_demo
  --scope "<scopes>"  space-separated scopes (default "openid profile email", as ScaiKey's admin console issues
                      them: a role needs no admin:* scope; platform tokens need admin:read / admin:write);
                      narrower grants: webhooks:read, webhooks:write, webhooks:publish
  --platform          a platform client_credentials token (platform_token: true, token_type: client_credentials)
  --sub <id>          subject (default usr_dev)
  --ttl <seconds>     lifetime in seconds (default 3600)
  -h, --help          this help

Examples:
  TOKEN=$(npm run -s token -- --role tenant_admin --tenant tnt_demo --partner prt_demo)
  TOKEN=$(npm run -s token -- --role partner_admin --partner prt_demo)
  TOKEN=$(npm run -s token -- --role none --platform --scope "admin:read")
  curl -s http://localhost:8787/api/v1/admin/webhooks/ -H "Authorization: Bearer $TOKEN"
`;

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const fail = (message, code = 1) => {
  process.stderr.write(`npm run token: ${message}\n`);
  process.exit(code);
};

const opts = parseCli({
  usage: USAGE,
  name: "npm run token",
  options: {
    role: { type: "string", default: "super_admin" },
    tenant: { type: "string" },
    partner: { type: "string" },
    scope: { type: "string", default: "openid profile email" },
    platform: { type: "boolean", default: false },
    sub: { type: "string", default: "usr_dev" },
    ttl: { type: "string", default: "3600" },
  },
});
if (opts.role !== "none" && !ROLES.includes(opts.role))
  usageError(`npm run token: --role must be one of ${[...ROLES, "none"].join(", ")}; got "${opts.role}"`);
const ttl = Number(opts.ttl);
if (!Number.isInteger(ttl) || ttl <= 0)
  usageError(`npm run token: --ttl must be a positive whole number of seconds; got "${opts.ttl}"`);

/** KEY=VALUE lines of a dotenv-style file (what wrangler reads from .dev.vars); quotes around a value are removed. */
function readDotenv(text) {
  const out = {};
  for (const line of text.split(/\r?\n/)) {
    const m = /^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$/.exec(line);
    if (!m) continue;
    let value = m[2];
    const quoted = /^(["'`])(.*)\1$/.exec(value);
    if (quoted) value = quoted[2];
    else value = value.replace(/\s+#.*$/, "");
    out[m[1]] = value;
  }
  return out;
}

/** The [vars] table of wrangler.toml: `KEY = "string"` / `KEY = 'literal'` lines up to the next table header. */
function readWranglerVars(text) {
  const out = {};
  const section = /^\[vars\][^\S\r\n]*(?:#.*)?$([\s\S]*?)(?=^\s*\[|(?![\s\S]))/m.exec(text);
  if (!section) return out;
  for (const line of section[1].split(/\r?\n/)) {
    const m = /^\s*([A-Za-z_][A-Za-z0-9_-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|'([^']*)')/.exec(line);
    if (!m) continue;
    out[m[1]] = m[2] !== undefined ? JSON.parse(`"${m[2]}"`) : m[3];
  }
  return out;
}

const devVarsPath = join(root, ".dev.vars");
if (!existsSync(devVarsPath))
  fail(".dev.vars is missing. Run `npm start` once: it creates .dev.vars with a random JWT_SECRET.");
const devVars = readDotenv(readFileSync(devVarsPath, "utf8"));
const wranglerVars = readWranglerVars(readFileSync(join(root, "wrangler.toml"), "utf8"));
// wrangler dev lets .dev.vars override [vars], so the Worker sees the same precedence.
const setting = (name) => devVars[name] ?? wranglerVars[name] ?? "";

const secret = devVars.JWT_SECRET;
if (!secret || secret === "change-me")
  fail(
    ".dev.vars has no usable JWT_SECRET. Delete .dev.vars and run `npm start` once to recreate it with a random secret.",
  );
if (setting("JWT_JWKS_URL"))
  process.stderr.write(
    "npm run token: warning: JWT_JWKS_URL is set, so the Worker verifies against that JWKS and rejects these HS256 tokens.\n",
  );

let mintToken;
try {
  ({ mintToken } = await import("./lib/token.mjs"));
} catch {
  fail("the jose package is not installed. Run `npm install` first.");
}

const token = await mintToken({
  key: secret,
  role: opts.role === "none" ? null : opts.role,
  tenant: opts.tenant,
  partner: opts.partner,
  scope: opts.scope,
  platform: opts.platform,
  subject: opts.sub,
  expiration: Math.floor(Date.now() / 1000) + ttl,
  // The Worker accepts any issuer under the JWT_ISSUER prefix, as ScaiKey issues one per tenant.
  issuerPrefix: setting("JWT_ISSUER") || undefined,
  audience: setting("JWT_AUDIENCE") || undefined,
});
process.stdout.write(`${token}\n`);
