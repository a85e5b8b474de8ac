// A real HTTP receiver on 127.0.0.1 for tests that need actual sockets (stalls, resets, junk, huge bodies).
// Tests run inside workerd and cannot listen, so Vitest starts this in Node (globalSetup) and tests read its
// base URL with `inject("receiverUrl")`. Raw TCP rather than node:http, so it can misbehave on purpose.
//
// Routes (every response but /bytes closes the connection):
//   /hook/<key>?plan=…&retry-after=…&delay=…&body=…
//                              records the request under <key>, then answers per `plan`: comma-separated, one entry
//                              per successive request to that key, the last repeating (default 200). An entry is a
//                              status code, or "hang" (never answer) or "close" (hang up without answering).
//                              `retry-after` is sent as Retry-After, `delay` (ms) waits before answering,
//                              `body` is the response body (default "ok"), sent `repeat` times.
//   /hook-log/<key>            JSON array of what <key> received: {method, headers (lowercased), body, received_at (ms)}
//   /echo                      200, JSON {method, path, headers, body} of the request
//   /status/<code>?location=…&retry-after=…   that status (even 101 or 600), body "status <code>"
//   /redirect?id=…             302 to /redirect-target?id=…, which counts its hits
//   /stall-headers?id=…        accepts the request, never answers; notes when the client hangs up
//   /stall-body                200 with Content-Length 100000, sends "hello", then nothing
//   /huge?id=…&status=…        that status (default 200) with a 64 MiB body, written as fast as the client reads
//   /bytes?hex=…&split=…       200 with exactly these bytes (Content-Length), written in two parts (the first `split`
//                              bytes, then the rest), and the connection kept for the next request: the length alone
//                              ends the body
//   /truncated                 200 with Content-Length 100, sends 3 bytes, closes
//   /garbage                   answers with bytes that are not HTTP, closes
//   /close                     closes without answering
//   /stats/<id>                JSON {hugeBytesWritten, hugeCompleted, redirectTargetHits, stallAbandoned} for that id
//   /jwks                      a JSON Web Key Set (one RS256 and one ES256 key, as ScaiKey publishes); the private
//                              halves reach tests through inject("jwtSigningKeys")
//   /jwks/<name>               a JWKS its test steers: up, down (503), hang, garbage, close, with the keys it
//                              publishes; every request counted (test/helpers/jwks-server.ts)
//   /jwks-control/<name>       GET: {mode, delayMs, fetches} of that JWKS; POST {mode?, jwks?, delayMs?} changes it
// A TLS ClientHello (https:// to this plain port) gets a plain-text 400, like node:http does.
import { startDohStub } from "./doh-stub";
import { createJwksSets } from "./jwks-server";

declare module "vitest" {
  export interface ProvidedContext {
    receiverUrl: string;
    /** JSON: [{ kid, alg, privateJwk }] for the keys /jwks publishes. */
    jwtSigningKeys: string;
    /** The DNS-over-HTTPS stub's query URL (test/helpers/doh-stub.ts), the Worker's DNS_RESOLVER_URL in tests. */
    dohUrl: string;
  }
}

// Only the slice of node:net used here: this Workers project has no @types/node.
interface Socket {
  on(event: "data", listener: (chunk: Uint8Array) => void): void;
  on(event: "close" | "drain" | "error", listener: () => void): void;
  once(event: "drain" | "close", listener: () => void): void;
  write(data: string | Uint8Array): boolean;
  end(data?: string): void;
  destroy(): void;
  readonly destroyed: boolean;
}
interface Server {
  listen(port: number, host: string, callback: () => void): void;
  address(): { port: number } | string | null;
  close(callback: () => void): void;
}
interface Net {
  createServer(listener: (socket: Socket) => void): Server;
}

interface RecordedRequest {
  method: string;
  headers: Record<string, string>;
  body: string;
  received_at: number;
}

interface Stats {
  hugeBytesWritten: number;
  hugeCompleted: boolean;
  redirectTargetHits: number;
  /** The client hung up on /stall-headers (its deadline aborted the request). */
  stallAbandoned: boolean;
}

const HUGE_BYTES = 64 * 1024 * 1024;
const decoder = new TextDecoder();

export default async function setup(project: {
  provide(key: "receiverUrl" | "jwtSigningKeys" | "dohUrl", value: string): void;
}) {
  const doh = await startDohStub();
  project.provide("dohUrl", doh.url);
  const signingKeys = await generateSigningKeys();
  const jwks = JSON.stringify({ keys: signingKeys.map((k) => k.publicJwk) });
  const net = process.getBuiltinModule("node:net") as Net;
  const sockets = new Set<Socket>();
  const stats = new Map<string, Stats>();
  const hookLogs = new Map<string, RecordedRequest[]>();
  const jwksSets = createJwksSets();
  const statsFor = (id: string) => {
    let entry = stats.get(id);
    if (!entry)
      stats.set(
        id,
        (entry = { hugeBytesWritten: 0, hugeCompleted: false, redirectTargetHits: 0, stallAbandoned: false }),
      );
    return entry;
  };

  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => {});
    let head: Uint8Array = new Uint8Array(0);
    let handled = false;
    socket.on("data", (chunk) => {
      if (handled) return;
      head = concat(head, chunk);
      if (head[0] === 0x16) {
        handled = true;
        socket.end("HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n");
        return;
      }
      const text = decoder.decode(head);
      const headEnd = text.indexOf("\r\n\r\n");
      if (headEnd < 0) return;
      const lines = text.slice(0, headEnd).split("\r\n");
      const headers: Record<string, string> = {};
      for (const line of lines.slice(1)) {
        const colon = line.indexOf(":");
        if (colon > 0) headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
      }
      const bodyLength = Number(headers["content-length"] ?? "0");
      const bodyStart = new TextEncoder().encode(text.slice(0, headEnd + 4)).byteLength;
      if (head.byteLength - bodyStart < bodyLength) return;
      handled = true;
      const [method = "", target = "/"] = (lines[0] ?? "").split(" ");
      const body = decoder.decode(head.subarray(bodyStart, bodyStart + bodyLength));
      // Only /bytes keeps the connection: then the next request on it (workerd reuses it) is read afresh.
      const keepAlive = () => {
        head = new Uint8Array(0);
        handled = false;
      };
      respond(socket, method, new URL(target, "http://receiver.test"), headers, body, keepAlive);
    });
  });

  function respond(
    socket: Socket,
    method: string,
    url: URL,
    headers: Record<string, string>,
    body: string,
    keepAlive: () => void,
  ) {
    const id = url.searchParams.get("id") ?? "";
    const reply = (status: string, extraHeaders: string[], payload: string) =>
      socket.end(
        [
          `HTTP/1.1 ${status}`,
          ...extraHeaders,
          `Content-Length: ${new TextEncoder().encode(payload).byteLength}`,
          "Connection: close",
          "",
          payload,
        ].join("\r\n"),
      );
    const status = /^\/status\/(\d+)$/.exec(url.pathname);
    const statsPath = /^\/stats\/(.+)$/.exec(url.pathname);
    const hook = /^\/hook\/([^/]+)$/.exec(url.pathname);
    const hookLog = /^\/hook-log\/([^/]+)$/.exec(url.pathname);
    const namedJwks = /^\/jwks\/([^/]+)$/.exec(url.pathname);
    const jwksControl = /^\/jwks-control\/([^/]+)$/.exec(url.pathname);
    if (url.pathname === "/jwks") {
      reply("200 OK", ["Content-Type: application/json"], jwks);
    } else if (namedJwks) {
      const { delayMs, answer } = jwksSets.fetch(decodeURIComponent(namedJwks[1] ?? ""));
      setTimeout(() => {
        if (answer.kind === "close") socket.destroy();
        else if (answer.kind === "reply") reply(answer.status, [`Content-Type: ${answer.contentType}`], answer.body);
      }, delayMs);
    } else if (jwksControl) {
      try {
        const state = jwksSets.control(decodeURIComponent(jwksControl[1] ?? ""), method === "POST" ? body : "");
        reply("200 OK", ["Content-Type: application/json"], JSON.stringify(state));
      } catch (err) {
        reply("400 Bad Request", [], String(err));
      }
    } else if (hook) {
      const key = decodeURIComponent(hook[1] ?? "");
      const log = hookLogs.get(key) ?? [];
      hookLogs.set(key, log);
      log.push({ method, headers, body, received_at: Date.now() });
      const plan = (url.searchParams.get("plan") ?? "200").split(",");
      const step = plan[Math.min(log.length, plan.length) - 1] ?? "200";
      const retryAfter = url.searchParams.get("retry-after");
      const payload = (url.searchParams.get("body") ?? "ok").repeat(Number(url.searchParams.get("repeat") ?? "1"));
      const answer = () => {
        if (step === "hang") return;
        if (step === "close") return socket.destroy();
        reply(`${step} Planned`, retryAfter === null ? [] : [`Retry-After: ${retryAfter}`], payload);
      };
      setTimeout(answer, Number(url.searchParams.get("delay") ?? "0"));
    } else if (hookLog) {
      const log = hookLogs.get(decodeURIComponent(hookLog[1] ?? "")) ?? [];
      reply("200 OK", ["Content-Type: application/json"], JSON.stringify(log));
    } else if (url.pathname === "/echo") {
      reply(
        "200 OK",
        ["Content-Type: application/json"],
        JSON.stringify({ method, path: url.pathname, headers, body }),
      );
    } else if (status) {
      const extra: string[] = [];
      const location = url.searchParams.get("location");
      const retryAfter = url.searchParams.get("retry-after");
      if (location !== null) extra.push(`Location: ${location}`);
      if (retryAfter !== null) extra.push(`Retry-After: ${retryAfter}`);
      reply(`${status[1]} Whatever`, extra, `status ${status[1]}`);
    } else if (url.pathname === "/redirect") {
      reply("302 Found", [`Location: /redirect-target?id=${encodeURIComponent(id)}`], "moved");
    } else if (url.pathname === "/redirect-target") {
      statsFor(id).redirectTargetHits++;
      reply("200 OK", [], "redirect followed");
    } else if (url.pathname === "/stall-headers") {
      // Say nothing; the client's deadline has to end this.
      socket.on("close", () => (statsFor(id).stallAbandoned = true));
    } else if (url.pathname === "/stall-body") {
      socket.write("HTTP/1.1 200 OK\r\nContent-Length: 100000\r\nConnection: close\r\n\r\nhello");
    } else if (url.pathname === "/huge") {
      void sendHuge(socket, statsFor(id), url.searchParams.get("status") ?? "200");
    } else if (url.pathname === "/bytes") {
      const hex = url.searchParams.get("hex") ?? "";
      const bytes = new Uint8Array((hex.match(/../g) ?? []).map((pair) => Number.parseInt(pair, 16)));
      const split = Number(url.searchParams.get("split") ?? bytes.byteLength);
      keepAlive(); // the client sends nothing more on this connection before it has the whole body
      socket.write(`HTTP/1.1 200 OK\r\nContent-Length: ${bytes.byteLength}\r\n\r\n`);
      socket.write(bytes.subarray(0, split));
      setTimeout(() => socket.write(bytes.subarray(split)), 20);
    } else if (url.pathname === "/truncated") {
      socket.end("HTTP/1.1 200 OK\r\nContent-Length: 100\r\nConnection: close\r\n\r\nabc");
    } else if (url.pathname === "/garbage") {
      socket.end("THIS IS NOT HTTP\r\n\r\n");
    } else if (url.pathname === "/close") {
      socket.destroy();
    } else if (statsPath) {
      reply(
        "200 OK",
        ["Content-Type: application/json"],
        JSON.stringify(statsFor(decodeURIComponent(statsPath[1] ?? ""))),
      );
    } else {
      reply("404 Not Found", [], "no such route");
    }
  }

  async function sendHuge(socket: Socket, entry: Stats, status: string) {
    socket.write(`HTTP/1.1 ${status} Huge\r\nContent-Length: ${HUGE_BYTES}\r\nConnection: close\r\n\r\n`);
    const block = new Uint8Array(64 * 1024).fill(0x78);
    while (entry.hugeBytesWritten < HUGE_BYTES && !socket.destroyed) {
      entry.hugeBytesWritten += block.byteLength;
      // Respect backpressure: only as fast as the client reads, so "bytes written" tracks what it took.
      if (!socket.write(block)) {
        await new Promise<void>((resolve) => {
          socket.once("drain", resolve);
          socket.once("close", resolve);
        });
      }
    }
    entry.hugeCompleted = entry.hugeBytesWritten >= HUGE_BYTES;
    socket.end();
  }

  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("receiver did not get a TCP port");
  project.provide("receiverUrl", `http://127.0.0.1:${address.port}`);
  project.provide(
    "jwtSigningKeys",
    JSON.stringify(signingKeys.map(({ kid, alg, privateJwk }) => ({ kid, alg, privateJwk }))),
  );

  return async () => {
    await doh.stop();
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => server.close(resolve));
  };
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.byteLength + b.byteLength);
  out.set(a, 0);
  out.set(b, a.byteLength);
  return out;
}

/** One RSA (RS256) and one P-256 (ES256) key pair, like the keys behind ScaiKey's JWKS endpoint. */
async function generateSigningKeys() {
  const specs = [
    {
      kid: "test-rs256",
      alg: "RS256",
      params: {
        name: "RSASSA-PKCS1-v1_5",
        modulusLength: 2048,
        publicExponent: new Uint8Array([1, 0, 1]),
        hash: "SHA-256",
      },
    },
    { kid: "test-es256", alg: "ES256", params: { name: "ECDSA", namedCurve: "P-256" } },
  ] as const;
  return Promise.all(
    specs.map(async ({ kid, alg, params }) => {
      const pair = (await crypto.subtle.generateKey(params, true, ["sign", "verify"])) as CryptoKeyPair;
      const publicJwk = { ...(await crypto.subtle.exportKey("jwk", pair.publicKey)), kid, alg, use: "sig" };
      const privateJwk = { ...(await crypto.subtle.exportKey("jwk", pair.privateKey)), kid, alg };
      return { kid, alg, publicJwk, privateJwk };
    }),
  );
}
