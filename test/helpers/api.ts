// Calls the Worker under test through its real fetch handler.
import { exports } from "cloudflare:workers";
import { hookUrl } from "./receiver";
import { tenantAdmin } from "./tokens";

export interface ApiResponse<T = any> {
  status: number;
  headers: Headers;
  body: T;
}

export async function api<T = any>(
  method: string,
  path: string,
  opts: { token?: string; body?: unknown; rawBody?: string; headers?: Record<string, string> } = {},
): Promise<ApiResponse<T>> {
  const headers: Record<string, string> = { ...opts.headers };
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  let body: string | undefined = opts.rawBody;
  if (opts.body !== undefined) {
    body = JSON.stringify(opts.body);
    headers["content-type"] ??= "application/json";
  }
  const res = await exports.default.fetch(new Request(`https://webhooks.test${path}`, { method, headers, body, redirect: "manual" }));
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    // not JSON: keep the text
  }
  return { status: res.status, headers: res.headers, body: parsed as T };
}

export const WEBHOOKS = "/api/v1/admin/webhooks";

/** Creates an endpoint as `token` and returns the created body (with its secret). */
export async function createWebhook(token: string, overrides: Record<string, unknown> = {}) {
  const res = await api("POST", `${WEBHOOKS}/`, {
    token,
    body: { url: "https://receiver.example.com/hook", events: ["user.created"], ...overrides },
  });
  if (res.status !== 201) throw new Error(`create failed: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body as { id: string; secret: string; tenant_id: string | null; partner_id: string | null } & Record<string, any>;
}

/** A webhook of `tenant` (partner prt_engine) subscribed to everything, pointing at a fresh URL of the local receiver. */
export async function webhookAtReceiver(tenant: string, opts: Parameters<typeof hookUrl>[0] = {}, extra: Record<string, unknown> = {}) {
  const hook = hookUrl(opts);
  const token = await tenantAdmin(tenant, "prt_engine");
  const webhook = await createWebhook(token, { url: hook.url, events: ["*"], ...extra });
  return { ...webhook, hookKey: hook.key, token };
}
