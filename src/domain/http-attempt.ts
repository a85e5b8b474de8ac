// One outbound delivery attempt: POST, no redirects, a deadline over headers and body, a bounded body excerpt.
import type { ErrorClass } from "../db/schema";
import { parseRetryAfter } from "./retry-policy";

export interface AttemptResult {
  ok: boolean;
  statusCode: number | null;
  durationMs: number;
  errorClass: ErrorClass | null;
  errorMessage: string | null;
  responseExcerpt: string | null;
  retryAfterSeconds: number | null;
  /** A failure's response headers, bounded (responseHeadersOf); absent after a success or when no response came. */
  responseHeaders?: [string, string][];
}

const EXCERPT_BYTES = 4096;
/**
 * What a failed attempt keeps of its response's headers, serialized as JSON: the attempt is stored in its delivery's
 * row (`attempts`), and a WITHOUT ROWID row past about 1 KB spills to an overflow page. A success keeps none.
 */
export const RESPONSE_HEADERS_MAX_BYTES = 512;
const HEADER_VALUE_CHARS = 200;
// Read first when a receiver fails: where it redirects, when to retry, what answered and in what format.
const FIRST_HEADERS = ["location", "retry-after", "content-type", "www-authenticate", "server", "x-request-id", "date"];
// Cookies are secrets; hop-by-hop headers (RFC 9110 §7.6.1) describe the connection, not the response, and would cost
// every failed attempt's row about 50 bytes for nothing.
const NEVER_KEPT = new Set([
  "set-cookie",
  "cookie",
  "connection",
  "keep-alive",
  "proxy-connection",
  "transfer-encoding",
  "te",
  "trailer",
  "upgrade",
]);
const utf8Bytes = (text: string) => new TextEncoder().encode(text).byteLength;

/**
 * What a failed attempt keeps of its response's headers: the most telling first (FIRST_HEADERS), each value cut at
 * HEADER_VALUE_CHARS, as many as fit RESPONSE_HEADERS_MAX_BYTES (a header that does not fit is left out); cookies and
 * hop-by-hop headers never.
 */
export function responseHeadersOf(headers: Headers): [string, string][] {
  const rank = (name: string) => {
    const i = FIRST_HEADERS.indexOf(name);
    return i === -1 ? FIRST_HEADERS.length : i;
  };
  const candidates = [...headers].filter(([name]) => !NEVER_KEPT.has(name)).sort(([a], [b]) => rank(a) - rank(b));
  const kept: [string, string][] = [];
  let bytes = 2; // []
  for (const [name, value] of candidates) {
    const pair: [string, string] = [name, value.slice(0, HEADER_VALUE_CHARS)];
    const size = utf8Bytes(JSON.stringify(pair)) + (kept.length > 0 ? 1 : 0);
    if (bytes + size > RESPONSE_HEADERS_MAX_BYTES) continue;
    kept.push(pair);
    bytes += size;
  }
  return kept;
}

/**
 * POST `body` to `url` once. Success is a 2xx whose body (up to the excerpt) arrives within `timeoutMs`;
 * a 3xx is a failure (redirects are never followed, so a receiver cannot bounce us to another host).
 * Never throws for network or HTTP trouble: every outcome is an AttemptResult.
 */
export async function sendWebhookRequest(opts: {
  url: string;
  headers: Record<string, string>;
  body: string;
  timeoutMs: number;
  fetch: typeof fetch;
  now?: () => number;
}): Promise<AttemptResult> {
  const now = opts.now ?? Date.now;
  const startedAt = now();
  const elapsed = () => Math.max(0, now() - startedAt);
  const deadline = startDeadline(opts.timeoutMs);
  try {
    let response: Response;
    try {
      // Called detached: workerd's global fetch throws "Illegal invocation" when `this` is the options object.
      const fetchFn = opts.fetch;
      const request = fetchFn(opts.url, {
        method: "POST",
        headers: opts.headers,
        body: opts.body,
        redirect: "manual",
        signal: deadline.signal,
      });
      response = await Promise.race([request, deadline.reached]);
    } catch (error) {
      const failure = deadline.signal.aborted
        ? { errorClass: "timeout" as const, errorMessage: `no response within ${opts.timeoutMs} ms` }
        : classifyFetchError(error, opts.url);
      return {
        ok: false,
        statusCode: null,
        durationMs: elapsed(),
        ...failure,
        responseExcerpt: null,
        retryAfterSeconds: null,
      };
    }

    const status = response.status;
    const { excerpt, error } = await readExcerpt(response, deadline.reached);
    const durationMs = elapsed();
    const retryAfterSeconds = isSuccess(status) ? null : parseRetryAfter(response.headers.get("Retry-After"), now());
    const failure =
      error === undefined
        ? classifyStatus(status, response.headers.get("Location"))
        : deadline.signal.aborted
          ? { errorClass: "timeout" as const, errorMessage: `response body not received within ${opts.timeoutMs} ms` }
          : classifyFetchError(error, opts.url);
    if (failure === null) {
      return {
        ok: true,
        statusCode: status,
        durationMs,
        errorClass: null,
        errorMessage: null,
        responseExcerpt: excerpt,
        retryAfterSeconds,
      };
    }
    return {
      ok: false,
      statusCode: status,
      durationMs,
      ...failure,
      responseExcerpt: excerpt,
      retryAfterSeconds,
      responseHeaders: responseHeadersOf(response.headers),
    };
  } finally {
    deadline.clear();
  }
}

// An abort signal for fetch, plus a promise to race against every await: the deadline then holds
// even when a fetch implementation or a response stream ignores the signal.
function startDeadline(timeoutMs: number) {
  const controller = new AbortController();
  const reached = new Promise<never>((_, reject) => {
    controller.signal.addEventListener("abort", () => reject(controller.signal.reason), { once: true });
  });
  reached.catch(() => {});
  const timer = setTimeout(() => controller.abort(new DOMException("deadline reached", "TimeoutError")), timeoutMs);
  return { signal: controller.signal, reached, clear: () => clearTimeout(timer) };
}

const isSuccess = (status: number) => status >= 200 && status <= 299;

function classifyStatus(
  status: number,
  location: string | null,
): { errorClass: ErrorClass; errorMessage: string } | null {
  if (isSuccess(status)) return null;
  if (status >= 300 && status <= 399) {
    const target = location === null ? "no Location header" : `Location: ${location}`;
    return { errorClass: "redirect", errorMessage: `HTTP ${status} redirect not followed (${target})` };
  }
  if (status >= 400 && status <= 499) return { errorClass: "http_4xx", errorMessage: `HTTP ${status}` };
  if (status >= 500 && status <= 599) return { errorClass: "http_5xx", errorMessage: `HTTP ${status}` };
  // workerd hands back 101 and 600..999 as ordinary responses; none of them is an answer to a webhook.
  return { errorClass: "invalid_response", errorMessage: `unexpected HTTP status ${status}` };
}

/**
 * Reads at most EXCERPT_BYTES of the body, then cancels the rest so the connection is released
 * without downloading it. Decoded as UTF-8, lossily; null when the body is empty.
 */
async function readExcerpt(
  response: Response,
  deadline: Promise<never>,
): Promise<{ excerpt: string | null; error?: unknown }> {
  if (response.body === null) return { excerpt: null };
  const reader = response.body.getReader();
  const decoder = new TextDecoder("utf-8");
  // A body whose declared length has arrived is complete: no further read to learn that it ended.
  const declared = declaredLength(response);
  let text = "";
  let received = 0;
  let done = false;
  let error: unknown;
  try {
    while (received < EXCERPT_BYTES) {
      const chunk = await Promise.race([reader.read(), deadline]);
      if (chunk.done) {
        text += decoder.decode();
        done = true;
        break;
      }
      const bytes = chunk.value.subarray(0, EXCERPT_BYTES - received);
      received += bytes.byteLength;
      if (received === declared && bytes.byteLength === chunk.value.byteLength) done = true;
      // stream: true holds back a character split by the cut instead of turning it into U+FFFD.
      text += decoder.decode(bytes, { stream: !done });
      if (done) break;
    }
  } catch (caught) {
    error = caught ?? new Error("response body failed");
  }
  // Not awaited: a stalled or hostile stream must not hold the attempt past its deadline.
  if (!done) reader.cancel().catch(() => {});
  const excerpt = received > 0 ? text : null;
  return error === undefined ? { excerpt } : { excerpt, error };
}

// What a thrown fetch error says about its cause. Local workerd reports refused, reset and malformed responses
// alike as `Error: Network connection lost.`, and DNS and TLS failures as `Error: internal error; reference = …`
// (the real cause only reaches its log), so those stay "network" unless the URL narrows it down.
// Node/undici put an errno-style `code` on `cause`; the message patterns catch runtimes that spell the cause out.
const CODE_CLASSES: [RegExp, ErrorClass][] = [
  [/^ECONNREFUSED$/, "connection_refused"],
  [/^(ENOTFOUND|EAI_AGAIN|EAI_NONAME)$/, "dns"],
  [/^(CERT_|ERR_TLS_|ERR_SSL_|DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT|UNABLE_TO_(GET|VERIFY)_)/, "tls"],
  [/^(ETIMEDOUT|UND_ERR_(CONNECT|HEADERS|BODY)_TIMEOUT)$/, "timeout"],
  [/^(HPE_|UND_ERR_INFO|UND_ERR_RES_CONTENT_LENGTH_MISMATCH)/, "invalid_response"],
];
const MESSAGE_CLASSES: [RegExp, ErrorClass][] = [
  [/connection refused|ECONNREFUSED/i, "connection_refused"],
  [/lookup address|name or service not known|name resolution|ENOTFOUND|getaddrinfo/i, "dns"],
  [/\bTLS\b|\bSSL\b|certificate|handshake/i, "tls"],
  [/parse error|invalid http|malformed/i, "invalid_response"],
];

function classifyFetchError(error: unknown, url: string): { errorClass: ErrorClass; errorMessage: string } {
  const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  const cause = error instanceof Error ? error.cause : undefined;
  const rawCode = typeof cause === "object" && cause !== null ? (cause as { code?: unknown }).code : undefined;
  const code = typeof rawCode === "string" ? rawCode : null;
  const causeText = [cause instanceof Error ? cause.message : null, code].filter((part) => part !== null).join(", ");
  const detail = causeText === "" ? message : `${message} (${causeText})`;

  const byCode = code === null ? undefined : CODE_CLASSES.find(([pattern]) => pattern.test(code));
  const byMessage = byCode ?? MESSAGE_CLASSES.find(([pattern]) => pattern.test(detail));
  if (byMessage) return { errorClass: byMessage[1], errorMessage: detail };
  if (/^Error: internal error; reference = /.test(message)) {
    // Over plain http there is no TLS, and a failed lookup is the only cause seen to surface this way.
    return /^http:/i.test(url)
      ? { errorClass: "dns", errorMessage: `DNS lookup failed (${message})` }
      : { errorClass: "network", errorMessage: `DNS lookup or TLS handshake failed (${message})` };
  }
  return { errorClass: "network", errorMessage: detail };
}

/** The body's length as the response declares it, when that is the length we read (not a compressed one). */
function declaredLength(response: Response): number | null {
  const encoding = response.headers.get("Content-Encoding");
  if (encoding !== null && encoding.toLowerCase() !== "identity") return null;
  const length = Number(response.headers.get("Content-Length") ?? "");
  return Number.isSafeInteger(length) && length > 0 ? length : null;
}
