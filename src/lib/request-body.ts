// Reads a route's request body as FastAPI does, once the route's access check has passed (createRouter puts it
// there): within a size limit; bytes that are not UTF-8 are a 400; a JSON content type (application/json or
// application/*+json) means JSON, and malformed JSON is pydantic's json_invalid at Python's character offset; any other
// content type, or none, hands the text to validation, which refuses it as not an object.
import type { MiddlewareHandler } from "hono";
import { badRequest, jsonInvalid, payloadTooLarge, unprocessable } from "./errors";
import { parseJsonExactly } from "./lossless-json";
import { pythonJsonDecodeError } from "./python-json-errors";
import type { AppEnv } from "./services";

export const MAX_BODY_BYTES = 256 * 1024;

/** How a route takes its body (shared-schemas.ts `jsonBody`). */
export interface BodyReading {
  required: boolean;
  /** "ignore": anything but a JSON object within the limit counts as no body (an operation the reference gives none). */
  unreadable?: "refuse" | "ignore";
  /** A member whose numbers are read exactly (lossless-json.ts): published event data, delivered as sent. */
  exactNumbersIn?: string;
}

/** The body as validation sees it, and as the client sent it. */
export interface RequestBody {
  /** undefined: no body (none, empty, or JSON null); otherwise the parsed JSON, or the text of a non-JSON body. */
  value: unknown;
  /** The same with every number exact: what a 422 echoes. */
  readonly exact: unknown;
}

const NOT_PARSED = "There was an error parsing the body";

export function readBody(reading: BodyReading, maxBytes = MAX_BODY_BYTES): MiddlewareHandler<AppEnv> {
  const lenient = reading.unreadable === "ignore";
  return async (c, next) => {
    c.set("requestBody", await read());
    return next();

    async function read(): Promise<RequestBody> {
      const none: RequestBody = { value: undefined, exact: undefined };
      const tooLarge = () => {
        if (lenient) return none;
        throw payloadTooLarge(`Request body must be at most ${maxBytes} bytes`);
      };
      if (Number(c.req.header("content-length") ?? "NaN") > maxBytes) return tooLarge();
      const bytes = await readAtMost(c.req.raw.body, maxBytes);
      if (bytes === null) return tooLarge();
      if (bytes.byteLength === 0) return none;
      let text: string;
      try {
        text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(bytes); // a UTF-8 BOM is dropped, as Python does
      } catch {
        if (lenient) return none;
        throw badRequest(NOT_PARSED);
      }
      if (!isJsonType(c.req.header("content-type"))) return lenient ? none : { value: text, exact: text };
      let value: unknown;
      try {
        value = JSON.parse(text);
      } catch {
        if (lenient) return none;
        const error = pythonJsonDecodeError(text) ?? { pos: 0, msg: "Expecting value" }; // NaN, Infinity
        throw unprocessable([jsonInvalid(error.pos, error.msg)]);
      }
      if (value === null || (lenient && !isObject(value))) return none;
      let exact: unknown;
      const exactly = () => (exact ??= parseExactly(text));
      if (reading.exactNumbersIn && isObject(value) && isObject(value[reading.exactNumbersIn])) {
        const member = exactly();
        if (isObject(member)) value[reading.exactNumbersIn] = member[reading.exactNumbersIn];
      }
      return {
        value,
        get exact() {
          return exactly();
        },
      };
    }
  };
}

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === "object" && !Array.isArray(v);

/** lossless-json recurses: nesting thousands deep overflows its stack; validation refuses such a body anyway. */
function parseExactly(text: string): unknown {
  try {
    return parseJsonExactly(text);
  } catch {
    return JSON.parse(text);
  }
}

/** FastAPI's test: the media type is application/json or application/<anything>+json, parameters aside. */
function isJsonType(header: string | undefined): boolean {
  const type = header?.split(";")[0]?.trim().toLowerCase() ?? "";
  const [main, sub] = type.split("/");
  return main === "application" && sub !== undefined && (sub === "json" || sub.endsWith("+json"));
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
