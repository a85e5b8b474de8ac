// The FastAPI stand-in's fixture (test/fixtures/fastapi-reference.json, written by scripts/gen-fastapi-reference.py):
// its HTTP cases, and sending one to the Worker as the stand-in received it.
import { exports } from "cloudflare:workers";
import reference from "../fixtures/fastapi-reference.json";

export interface ReferenceCase {
  name: string;
  method: string;
  path: string;
  /** The row of the zod → pydantic table (src/lib/errors.ts) the case exercises. */
  row?: string;
  body?: string;
  body_base64?: string;
  content_type?: string;
  expected: { status: number; allow?: string; location?: string; body?: string };
}

export { reference };
export const referenceCases = reference.http as ReferenceCase[];

/** `text` with the fixture's placeholder webhook id replaced by a real one. */
export const withWebhook = (text: string, webhookId: string) => text.replaceAll(reference.meta.webhook_id, webhookId);

/** Sends `c` to the Worker on the fixture's origin with `token`, the placeholder webhook id replaced by `webhookId`. */
export function sendReferenceCase(c: ReferenceCase, token: string, webhookId: string): Promise<Response> {
  const headers: Record<string, string> = { authorization: `Bearer ${token}` };
  if (c.content_type) headers["content-type"] = c.content_type;
  const body =
    c.body_base64 !== undefined ? Uint8Array.from(atob(c.body_base64), (ch) => ch.charCodeAt(0)) : c.body || undefined;
  return exports.default.fetch(
    new Request(`${reference.meta.origin}${withWebhook(c.path, webhookId)}`, {
      method: c.method,
      headers,
      body,
      redirect: "manual",
    }),
  );
}
