// The one local HTTP receiver of the harnesses (scripts/receiver.mjs, the bench's, the fault farm's, the volume bench's,
// the browser suite's): node:http on 127.0.0.1, a request handed over once its body has arrived, every connection
// tracked so that stopping ends them all. What each answers is its own. The vitest suite's receiver
// (test/helpers/receiver-global-setup.ts) is not one of these on purpose: it speaks raw TCP to misbehave in ways
// node:http will not (junk instead of HTTP, truncated bodies, statuses like 600). Node builtins only.
import { createServer } from "node:http";

/**
 * Listens on `host` and `port` (0: a free one) and calls `handle(req, res, body)` once a request's body has arrived:
 * `body` is a Buffer, or null with `readBody: false` (the body is then drained unread, as a receiver that only counts
 * does). `keepAliveTimeout` and `requestTimeout` are node:http's. Rejects when the port cannot be had.
 * Returns { server, port, url(path), connections(), stop() }: `stop()` closes the listener and every connection.
 */
export async function startLocalReceiver(
  handle,
  { host = "127.0.0.1", port = 0, readBody = true, keepAliveTimeout, requestTimeout } = {},
) {
  const sockets = new Set();
  const server = createServer((req, res) => {
    const chunks = [];
    req.on("data", (chunk) => readBody && chunks.push(chunk));
    req.on("end", () => handle(req, res, readBody ? Buffer.concat(chunks) : null));
    req.on("error", () => {});
  });
  server.on("connection", (socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => {});
  });
  if (keepAliveTimeout !== undefined) server.keepAliveTimeout = keepAliveTimeout;
  if (requestTimeout !== undefined) server.requestTimeout = requestTimeout;
  await new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const bound = server.address().port;
  return {
    server,
    port: bound,
    url: (path = "") => `http://${host}:${bound}${path}`,
    connections: () => sockets.size,
    stop: () =>
      new Promise((resolve) => {
        for (const socket of sockets) socket.destroy();
        if (!server.listening) return resolve();
        server.close(() => resolve());
      }),
  };
}
