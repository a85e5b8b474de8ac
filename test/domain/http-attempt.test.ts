// One outbound attempt, against workerd's real fetch and the real local receiver (test/helpers/receiver-global-setup.ts)
// wherever a server can produce the condition. An injected fetch is used only for what workerd's fetch cannot do:
// throw the errors other runtimes throw (undici's codes), throw synchronously, or ignore its abort signal.
import { describe, expect, it } from "vitest";
import { type AttemptResult, sendWebhookRequest } from "../../src/domain/http-attempt";
import { receiverBase } from "../helpers/receiver";

const BODY = '{"event_id":"evt_1","event_type":"webhook.test"}';
const HEADERS = {
  "Content-Type": "application/json",
  "User-Agent": "ScaiKey-Webhook/1.0",
  "X-ScaiKey-Event-ID": "evt_1",
  "X-ScaiKey-Signature": "t=1747584000,v1=00",
};
const encoder = new TextEncoder();

function send(fetch: typeof globalThis.fetch, overrides: Partial<Parameters<typeof sendWebhookRequest>[0]> = {}) {
  return sendWebhookRequest({
    url: "https://receiver.example/hook",
    headers: HEADERS,
    body: BODY,
    timeoutMs: 2000,
    fetch,
    ...overrides,
  });
}

/** A fetch that throws `error` instead of connecting: what other runtimes' fetch throws, which workerd's cannot. */
const throwing =
  (error: unknown): typeof globalThis.fetch =>
  () =>
    Promise.reject(error);

/** A clock that advances by `stepMs` on every reading. */
function steppingClock(startMs: number, stepMs: number) {
  let t = startMs - stepMs;
  return () => (t += stepMs);
}

const at = (path: string) => `${receiverBase()}${path}`;
/** A receiver URL answering `status` with `body` (and a Retry-After when given). */
const planned = (status: number, body: string, retryAfter?: string) => {
  const query = new URLSearchParams({ plan: String(status), body });
  if (retryAfter !== undefined) query.set("retry-after", retryAfter);
  return at(`/hook/${crypto.randomUUID()}?${query}`);
};
const hex = (bytes: Uint8Array) => [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
const stats = async (id: string) =>
  (await (await fetch(at(`/stats/${id}`))).json()) as {
    hugeBytesWritten: number;
    hugeCompleted: boolean;
    redirectTargetHits: number;
    stallAbandoned: boolean;
  };

describe("sendWebhookRequest with workerd's real fetch against the local receiver", () => {
  it("puts exactly our method, headers and body on the wire", async () => {
    const result = await send(fetch, { url: at("/echo") });
    expect(result).toMatchObject({ ok: true, statusCode: 200, errorClass: null });
    const echoed = JSON.parse(result.responseExcerpt ?? "null") as {
      method: string;
      headers: Record<string, string>;
      body: string;
    };
    expect(echoed.method).toBe("POST");
    expect(echoed.body).toBe(BODY);
    expect(echoed.headers).toMatchObject({
      "content-type": "application/json",
      "user-agent": "ScaiKey-Webhook/1.0",
      "x-scaikey-event-id": "evt_1",
      "x-scaikey-signature": "t=1747584000,v1=00",
    });
  });

  it("maps real statuses, with Retry-After", async () => {
    expect(await send(fetch, { url: at("/status/429?retry-after=120") })).toMatchObject({
      ok: false,
      statusCode: 429,
      errorClass: "http_4xx",
      retryAfterSeconds: 120,
      responseExcerpt: "status 429",
    });
    expect(await send(fetch, { url: at("/status/503") })).toMatchObject({ statusCode: 503, errorClass: "http_5xx" });
    expect(await send(fetch, { url: at("/status/202") })).toMatchObject({ ok: true, statusCode: 202 });
  });

  it("treats every 2xx as success, and an empty body as no excerpt", async () => {
    for (const status of [200, 201, 202, 204, 299]) {
      const result = await send(fetch, { url: planned(status, "") });
      expect(result, String(status)).toMatchObject({
        ok: true,
        statusCode: status,
        errorClass: null,
        responseExcerpt: null,
      });
    }
  });

  it("classifies 4xx and 5xx, keeping the body excerpt", async () => {
    expect(await send(fetch, { url: planned(404, "no such hook") })).toMatchObject({
      ok: false,
      statusCode: 404,
      errorClass: "http_4xx",
      errorMessage: "HTTP 404",
      responseExcerpt: "no such hook",
    });
    expect(await send(fetch, { url: planned(500, "boom") })).toMatchObject({
      ok: false,
      statusCode: 500,
      errorClass: "http_5xx",
      errorMessage: "HTTP 500",
      responseExcerpt: "boom",
    });
  });

  it("reports a 3xx without a Location as a redirect failure too", async () => {
    expect(await send(fetch, { url: at("/status/307") })).toMatchObject({
      ok: false,
      statusCode: 307,
      errorClass: "redirect",
      errorMessage: "HTTP 307 redirect not followed (no Location header)",
    });
  });

  it("passes Retry-After on failures, as seconds or as a date relative to the clock, and only on failures", async () => {
    const now = Date.UTC(2026, 10, 23, 12, 0, 0);
    const date = await send(fetch, { url: planned(503, "", "Mon, 23 Nov 2026 12:05:00 GMT"), now: () => now });
    expect(date).toMatchObject({ errorClass: "http_5xx", retryAfterSeconds: 300 });
    expect((await send(fetch, { url: planned(503, "", "soon") })).retryAfterSeconds).toBeNull();
    expect((await send(fetch, { url: planned(200, "", "120") })).retryAfterSeconds).toBeNull();
  });

  it("measures durationMs with the injected clock", async () => {
    const result = await send(fetch, { url: planned(200, "ok"), now: steppingClock(1_000, 125) });
    expect(result.durationMs).toBe(125);
  });

  it("keeps 4096 bytes of a large failing body too, and hangs up", async () => {
    const id = crypto.randomUUID();
    const result = await send(fetch, { url: at(`/huge?id=${id}&status=500`) });
    expect(result).toMatchObject({
      ok: false,
      statusCode: 500,
      errorClass: "http_5xx",
      responseExcerpt: "x".repeat(4096),
    });
    let seen = await stats(id);
    for (let i = 0; i < 20 && seen.hugeBytesWritten === 0; i++) seen = await stats(id);
    expect(seen.hugeCompleted).toBe(false);
  });

  it("drops a multi-byte character cut at the limit instead of mangling it", async () => {
    const body = `${"a".repeat(4095)}é and more`; // é is 2 bytes: bytes 4096-4097
    const result = await send(fetch, { url: at(`/bytes?hex=${hex(encoder.encode(body))}`) });
    expect(result.responseExcerpt).toBe("a".repeat(4095));
  });

  it("ends a body at its declared length, a character split across writes included, though the connection stays open", async () => {
    const bytes = encoder.encode("zoë"); // ë is 2 bytes, split between the two writes
    const result = await send(fetch, { url: at(`/bytes?hex=${hex(bytes)}&split=3`), timeoutMs: 1000 });
    expect(result).toMatchObject({ ok: true, statusCode: 200, errorClass: null, responseExcerpt: "zoë" });
  });

  it("decodes UTF-8 and replaces invalid bytes rather than failing", async () => {
    const bytes = new Uint8Array([...encoder.encode("zoë "), 0xff, 0xfe, ...encoder.encode(" ok")]);
    const result = await send(fetch, { url: at(`/bytes?hex=${hex(bytes)}`) });
    expect(result).toMatchObject({ ok: true, responseExcerpt: "zoë \ufffd\ufffd ok" });
  });

  it("does not follow a real redirect", async () => {
    const id = crypto.randomUUID();
    const result = await send(fetch, { url: at(`/redirect?id=${id}`) });
    expect(result).toMatchObject({ ok: false, statusCode: 302, errorClass: "redirect" });
    expect(result.errorMessage).toContain(`Location: /redirect-target?id=${id}`);
    expect((await stats(id)).redirectTargetHits).toBe(0);
  });

  it("treats statuses workerd passes through but HTTP has no use for (101, 600) as invalid responses", async () => {
    expect(await send(fetch, { url: at("/status/600") })).toMatchObject({
      ok: false,
      statusCode: 600,
      errorClass: "invalid_response",
    });
    expect(await send(fetch, { url: at("/status/101") })).toMatchObject({
      ok: false,
      statusCode: 101,
      errorClass: "invalid_response",
    });
  });

  it("times out a server that never answers, and aborts the request so the connection is closed", async () => {
    const id = crypto.randomUUID();
    const result = await send(fetch, { url: at(`/stall-headers?id=${id}`), timeoutMs: 300 });
    expect(result).toMatchObject({
      ok: false,
      statusCode: null,
      errorClass: "timeout",
      errorMessage: "no response within 300 ms",
    });
    expect(result.durationMs).toBeGreaterThanOrEqual(250);
    let seen = await stats(id);
    for (let i = 0; i < 20 && !seen.stallAbandoned; i++) seen = await stats(id);
    expect(seen.stallAbandoned).toBe(true);
  });

  it("times out a body that stalls after the headers, keeping the status and what arrived", async () => {
    const result = await send(fetch, { url: at("/stall-body"), timeoutMs: 300 });
    expect(result).toMatchObject({
      ok: false,
      statusCode: 200,
      errorClass: "timeout",
      errorMessage: "response body not received within 300 ms",
      responseExcerpt: "hello",
    });
  });

  it("reads 4096 bytes of a 64 MiB body and hangs up, so the server stops sending", async () => {
    const id = crypto.randomUUID();
    const result = await send(fetch, { url: at(`/huge?id=${id}`) });
    expect(result).toMatchObject({ ok: true, statusCode: 200, responseExcerpt: "x".repeat(4096) });
    let seen = await stats(id);
    for (let i = 0; i < 20 && seen.hugeBytesWritten === 0; i++) seen = await stats(id);
    expect(seen.hugeCompleted).toBe(false);
    expect(seen.hugeBytesWritten).toBeLessThan(32 * 1024 * 1024);
  });

  it("reports workerd's real errors for broken responses as network", async () => {
    for (const path of ["/garbage", "/close"]) {
      const result = await send(fetch, { url: at(path) });
      expect(result, path).toMatchObject({
        ok: false,
        statusCode: null,
        errorClass: "network",
        errorMessage: "Error: Network connection lost.",
      });
    }
    const truncated = await send(fetch, { url: at("/truncated") });
    expect(truncated).toMatchObject({ ok: false, statusCode: 200, errorClass: "network", responseExcerpt: "abc" });
  });

  it("drives the receiver's /hook route: a plan of statuses, Retry-After, delay, and a request log", async () => {
    const key = crypto.randomUUID();
    const url = at(`/hook/${key}?plan=503,200&retry-after=7&delay=20&body=${encodeURIComponent('{"handled":false}')}`);
    const results = [await send(fetch, { url }), await send(fetch, { url }), await send(fetch, { url })];
    expect(results.map((r) => [r.statusCode, r.retryAfterSeconds, r.responseExcerpt])).toEqual([
      [503, 7, '{"handled":false}'],
      [200, null, '{"handled":false}'],
      [200, null, '{"handled":false}'],
    ]);
    const log = (await (await fetch(at(`/hook-log/${key}`))).json()) as {
      method: string;
      headers: Record<string, string>;
      body: string;
      received_at: number;
    }[];
    expect(log).toHaveLength(3);
    expect(log[0]).toMatchObject({ method: "POST", body: BODY, headers: { "x-scaikey-event-id": "evt_1" } });
    expect(log[0]?.received_at).toEqual(expect.any(Number));
    const hung = await send(fetch, { url: at(`/hook/${crypto.randomUUID()}?plan=hang`), timeoutMs: 100 });
    expect(hung.errorClass).toBe("timeout");
  });

  it("reports a failed TLS handshake the way workerd does: opaque, so network", async () => {
    const result = await send(fetch, { url: at("/echo").replace(/^http:/, "https:") });
    expect(result).toMatchObject({ ok: false, statusCode: null, errorClass: "network" });
    expect(result.errorMessage).toMatch(
      /^DNS lookup or TLS handshake failed \(Error: internal error; reference = \w+\)$/,
    );
  });
});

// These pass the global fetch as is: sendWebhookRequest calls it detached, as workerd requires.
describe("sendWebhookRequest with workerd's real fetch (no server needed)", () => {
  it("closed port: workerd says only 'Network connection lost.', so the class is network", async () => {
    const result = await send(fetch, { url: "http://127.0.0.1:1/" });
    expect(result).toMatchObject({
      ok: false,
      statusCode: null,
      errorClass: "network",
      errorMessage: "Error: Network connection lost.",
    });
  });

  it("unresolvable host over http: workerd's opaque 'internal error' is the failed lookup", async () => {
    const result = await send(fetch, { url: "http://does-not-exist.invalid/" });
    expect(result).toMatchObject({ ok: false, statusCode: null, errorClass: "dns" });
    expect(result.errorMessage).toMatch(/^DNS lookup failed \(Error: internal error; reference = \w+\)$/);
  });

  it("unresolvable host over https: indistinguishable from a TLS failure, so network", async () => {
    const result = await send(fetch, { url: "https://does-not-exist.invalid/" });
    expect(result).toMatchObject({ ok: false, errorClass: "network" });
    expect(result.errorMessage).toMatch(
      /^DNS lookup or TLS handshake failed \(Error: internal error; reference = \w+\)$/,
    );
  });
});

describe("sendWebhookRequest: errors fetch throws (injected: other runtimes' errors)", () => {
  it.each<[string, unknown, string, AttemptResult["errorClass"]]>([
    // What workerd throws (see the real-fetch tests below).
    ["workerd: refused, reset or malformed", new Error("Network connection lost."), "http://127.0.0.1:1/", "network"],
    [
      "workerd: failed lookup over http",
      new Error("internal error; reference = abc123"),
      "http://gone.invalid/",
      "dns",
    ],
    [
      "workerd: failed lookup or TLS over https",
      new Error("internal error; reference = abc123"),
      "https://gone.invalid/",
      "network",
    ],
    // Messages that spell the cause out (workerd's own log lines, other runtimes).
    [
      "refused in the message",
      new Error("connect(): Connection refused (os error 111)"),
      "https://x.example/",
      "connection_refused",
    ],
    [
      "lookup in the message",
      new Error("failed to lookup address information: Name or service not known"),
      "https://x.example/",
      "dns",
    ],
    ["TLS in the message", new Error("TLS handshake failed: invalid peer certificate"), "https://x.example/", "tls"],
    // Node/undici: TypeError("fetch failed") with an errno-style code on cause.
    [
      "undici ECONNREFUSED",
      new TypeError("fetch failed", {
        cause: Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" }),
      }),
      "https://x.example/",
      "connection_refused",
    ],
    ["undici ENOTFOUND", new TypeError("fetch failed", { cause: { code: "ENOTFOUND" } }), "https://x.example/", "dns"],
    [
      "undici expired certificate",
      new TypeError("fetch failed", { cause: { code: "CERT_HAS_EXPIRED" } }),
      "https://x.example/",
      "tls",
    ],
    [
      "undici self-signed",
      new TypeError("fetch failed", { cause: { code: "DEPTH_ZERO_SELF_SIGNED_CERT" } }),
      "https://x.example/",
      "tls",
    ],
    [
      "undici parser",
      new TypeError("fetch failed", { cause: { code: "HPE_INVALID_CONSTANT" } }),
      "https://x.example/",
      "invalid_response",
    ],
    [
      "undici connect timeout",
      new TypeError("fetch failed", { cause: { code: "UND_ERR_CONNECT_TIMEOUT" } }),
      "https://x.example/",
      "timeout",
    ],
    ["undici reset", new TypeError("fetch failed", { cause: { code: "ECONNRESET" } }), "https://x.example/", "network"],
    // Anything else.
    ["unsupported scheme", new TypeError("Fetch API cannot load: ftp://x/"), "ftp://x/", "network"],
    ["a thrown string", "boom", "https://x.example/", "network"],
  ])("%s → %s", async (_label, error, url, expected) => {
    const result = await send(throwing(error), { url });
    expect(result).toMatchObject({
      ok: false,
      statusCode: null,
      errorClass: expected,
      responseExcerpt: null,
      retryAfterSeconds: null,
    });
    expect(result.errorMessage).toEqual(expect.any(String));
  });

  it("keeps the cause and its code in the message", async () => {
    const error = new TypeError("fetch failed", {
      cause: Object.assign(new Error("read ECONNRESET"), { code: "ECONNRESET" }),
    });
    expect((await send(throwing(error))).errorMessage).toBe("TypeError: fetch failed (read ECONNRESET, ECONNRESET)");
    const bare = new TypeError("fetch failed", { cause: { code: "ENOTFOUND" } });
    expect(await send(throwing(bare))).toMatchObject({
      errorClass: "dns",
      errorMessage: "TypeError: fetch failed (ENOTFOUND)",
    });
  });

  it("never throws, even when fetch throws synchronously", async () => {
    const fetch: typeof globalThis.fetch = () => {
      throw new TypeError("Invalid URL");
    };
    await expect(send(fetch, { url: "not a url" })).resolves.toMatchObject({
      ok: false,
      errorClass: "network",
      errorMessage: "TypeError: Invalid URL",
    });
  });
});

describe("sendWebhookRequest: a fetch that ignores its abort signal (injected)", () => {
  it("still times out when no response comes", async () => {
    const never: typeof globalThis.fetch = () => new Promise<Response>(() => {});
    const result = await send(never, { timeoutMs: 50, now: steppingClock(0, 50) });
    expect(result).toEqual<AttemptResult>({
      ok: false,
      statusCode: null,
      durationMs: 50,
      errorClass: "timeout",
      errorMessage: "no response within 50 ms",
      responseExcerpt: null,
      retryAfterSeconds: null,
    });
  });
});
