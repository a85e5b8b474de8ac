// Reads a route's JSON request body before its validation, within a size limit, so that a wrong content type, malformed
// JSON, an oversized or a missing body answers with our 422/413 shapes (hono's validator would answer 400/415).
// createRouter puts it after the route's own middleware: the caller is authorised before its body is looked at.
import type { MiddlewareHandler } from "hono";
import { invalidField, payloadTooLarge } from "./errors";

export const MAX_BODY_BYTES = 256 * 1024;
// The whole header, as @hono/zod-openapi's media-type gate checks it: anything that gate would answer 415 gets our 422.
const JSON_CONTENT_TYPE = /^application\/([a-z-.]+\+)?json(;\s*[a-zA-Z0-9-]+=([^;]+))*$/i;

const bodyReaders = new WeakSet<MiddlewareHandler>();
/** Marks route middleware that reads the body: createRouter runs bodyLimit just before it, after the route's guards. */
export function readingBody(middleware: MiddlewareHandler): MiddlewareHandler {
  bodyReaders.add(middleware);
  return middleware;
}
export const readsBody = (middleware: MiddlewareHandler) => bodyReaders.has(middleware);

/** `required`: whether the operation needs a body; a missing one (empty, or JSON `null`) is then FastAPI's one issue. */
export function bodyLimit({
  required,
  maxBytes = MAX_BODY_BYTES,
}: {
  required: boolean;
  maxBytes?: number;
}): MiddlewareHandler {
  return async (c, next) => {
    const declared = Number(c.req.header("content-length") ?? "NaN");
    if (declared > maxBytes) throw payloadTooLarge(`Request body must be at most ${maxBytes} bytes`);
    const raw = await readAtMost(c.req.raw.body, maxBytes);
    if (raw === null) throw payloadTooLarge(`Request body must be at most ${maxBytes} bytes`);
    let text: string;
    try {
      text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(raw);
    } catch {
      throw invalidField(["body"], "Request body is not valid UTF-8", "json_invalid");
    }
    const absent = text.trim() === "" || text.trim() === "null";
    if (absent) {
      if (required) throw invalidField(["body"], "Field required", "missing");
      text = "{}"; // an optional body left out validates as an empty object
    } else {
      if (!JSON_CONTENT_TYPE.test(c.req.header("content-type") ?? ""))
        throw invalidField(["body"], "Content-Type must be application/json", "model_attributes_type");
      try {
        JSON.parse(text);
      } catch (err) {
        const position = /position (\d+)/.exec(String(err))?.[1];
        throw invalidField(["body", position ? Number(position) : 0], "JSON decode error", "json_invalid");
      }
    }
    // hono's json() reads this cache, so route validation sees exactly what was checked here; the media-type gate of
    // @hono/zod-openapi reads arrayBuffer to ask whether there was a body, so an absent one counts as none there too.
    // (the cache holds promises at run time; its declared type says otherwise)
    const cache = c.req.bodyCache as Record<string, unknown>;
    cache.text = Promise.resolve(text);
    cache.arrayBuffer = Promise.resolve(absent ? new ArrayBuffer(0) : raw.slice().buffer);
    return next();
  };
}

/**
 * The body's bytes, or null as soon as it passes `maxBytes`: a chunked body (no Content-Length) is cut off there
 * instead of being buffered whole.
 */
export async function readAtMost(
  body: ReadableStream<Uint8Array> | null,
  maxBytes: number,
): Promise<Uint8Array | null> {
  if (!body) return new Uint8Array(0);
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > maxBytes) {
      await reader.cancel().catch(() => {});
      return null;
    }
    chunks.push(value);
  }
  const out = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return out;
}
