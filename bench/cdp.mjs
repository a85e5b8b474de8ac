// A small Chrome DevTools Protocol client for workerd's inspector (Node's own WebSocket, nothing to install): the
// isolates it exposes, and V8's CPU profiler on one of them (the Profiler domain: enable, setSamplingInterval, start,
// stop → Profile { nodes, samples, timeDeltas }). Used by the profile measure (measure/profile.mjs).

/** The inspector's targets, one per isolate: [{ id, webSocketDebuggerUrl }]; `inspector` is ws://host:port/. */
export async function inspectorTargets(inspector) {
  const { host } = new URL(inspector);
  const res = await fetch(`http://${host}/json/list`, { signal: AbortSignal.timeout(5000) });
  if (!res.ok) throw new Error(`${host}/json/list: ${res.status}`);
  return res.json();
}

/** One session on one target: `send(method, params)` answers the result, or throws the protocol's error. */
export async function openSession(url, { timeoutMs = 30_000 } = {}) {
  const ws = new WebSocket(url);
  ws.binaryType = "arraybuffer";
  const pending = new Map();
  let next = 0;
  ws.addEventListener("message", (event) => {
    const text = typeof event.data === "string" ? event.data : new TextDecoder().decode(event.data);
    const message = JSON.parse(text);
    const call = pending.get(message.id);
    if (!call) return; // an event: this client subscribes to none
    pending.delete(message.id);
    if (message.error) call.reject(new Error(`${call.method}: ${message.error.message}`));
    else call.resolve(message.result);
  });
  const closed = new Promise((resolve) =>
    ws.addEventListener("close", () => {
      for (const call of pending.values()) call.reject(new Error(`${call.method}: inspector session closed`));
      pending.clear();
      resolve();
    }),
  );
  await new Promise((resolve, reject) => {
    ws.addEventListener("open", resolve, { once: true });
    ws.addEventListener("error", () => reject(new Error(`could not connect to ${url}`)), { once: true });
  });
  return {
    send(method, params = {}) {
      const id = ++next;
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          pending.delete(id);
          reject(new Error(`${method}: no answer within ${timeoutMs} ms`));
        }, timeoutMs);
        pending.set(id, {
          method,
          resolve: (v) => (clearTimeout(timer), resolve(v)),
          reject: (e) => (clearTimeout(timer), reject(e)),
        });
        ws.send(JSON.stringify({ id, method, params }));
      });
    },
    /** Ends the session; resolves once it has ended (workerd takes one session per isolate at a time). */
    close() {
      ws.close();
      return closed;
    },
  };
}

/**
 * V8's sampling profiler on each of `targets` ([{ name, url, intervalUs }]) at once: `start()`, then `stop()` answers
 * { <name>: Profile }. `intervalUs`: each one's sampling interval in microseconds.
 */
export async function cpuProfilers(targets) {
  const sessions = await Promise.all(targets.map(async (t) => ({ ...t, session: await openSession(t.url) })));
  return {
    async start() {
      for (const { session, intervalUs } of sessions) {
        await session.send("Profiler.enable");
        await session.send("Profiler.setSamplingInterval", { interval: intervalUs });
      }
      await Promise.all(sessions.map(({ session }) => session.send("Profiler.start")));
    },
    async stop() {
      const profiles = await Promise.all(
        sessions.map(async ({ name, session }) => [name, (await session.send("Profiler.stop", {})).profile]),
      );
      for (const { session } of sessions) {
        await session.send("Profiler.disable").catch(() => {});
        await session.close();
      }
      return Object.fromEntries(profiles);
    },
  };
}
