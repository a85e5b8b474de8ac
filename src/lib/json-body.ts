// Parses JSON request bodies before route validation, so that a wrong content type, malformed JSON or an
// oversized body answers with our 422/413 shapes (hono's validator would answer 400/415).
import type { MiddlewareHandler } from "hono";
import { invalidField, payloadTooLarge } from "./errors";

export const MAX_BODY_BYTES = 256 * 1024;
const JSON_MEDIA_TYPE = /^application\/([\w.-]+\+)?json$/i;

export function jsonBody(maxBytes = MAX_BODY_BYTES): MiddlewareHandler {
  return async (c, next) => {
    if (c.req.method !== "POST" && c.req.method !== "PATCH" && c.req.method !== "PUT") return next();
    const declared = Number(c.req.header("content-length") ?? "NaN");
    if (declared > maxBytes) throw payloadTooLarge(`Request body must be at most ${maxBytes} bytes`);
    const raw = await c.req.arrayBuffer();
    if (raw.byteLength > maxBytes) throw payloadTooLarge(`Request body must be at most ${maxBytes} bytes`);
    let text = new TextDecoder().decode(raw);
    if (text.trim() === "") {
      text = "{}"; // an absent body validates as an empty object: required fields are then reported one by one
    } else {
      const mediaType = (c.req.header("content-type") ?? "").split(";")[0]!.trim();
      if (!JSON_MEDIA_TYPE.test(mediaType))
        throw invalidField(["body"], "Content-Type must be application/json", "model_attributes_type");
      try {
        JSON.parse(text);
      } catch (err) {
        const position = /position (\d+)/.exec(String(err))?.[1];
        throw invalidField(["body", position ? Number(position) : 0], "JSON decode error", "json_invalid");
      }
    }
    // hono's json() reads this cache, so route validation sees exactly what was checked here.
    // (the cache holds promises at run time; its declared type says otherwise)
    (c.req.bodyCache as Record<string, unknown>).text = Promise.resolve(text);
    return next();
  };
}
