// LOG_LEVEL: which lines are written. The access log is an info line; the line per delivery attempt is written at any level.
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { createApp } from "../../src/app";
import { attemptDelivery } from "../../src/domain/delivery/attempt";
import { readConfig } from "../../src/lib/config";
import { configureLogger, logger } from "../../src/lib/logger";
import { createServices } from "../../src/lib/services";
import { createWebhook } from "../helpers/api";
import { deliveryDeps, seedDelivery } from "../helpers/deliveries";
import { hookUrl } from "../helpers/receiver";
import { tenantAdmin } from "../helpers/tokens";

function captureLines() {
  const lines: Record<string, unknown>[] = [];
  for (const method of ["log", "warn", "error"] as const)
    vi.spyOn(console, method).mockImplementation(
      (...args: unknown[]) => void lines.push(JSON.parse(args.map(String).join(" "))),
    );
  return lines;
}

describe("LOG_LEVEL", () => {
  afterEach(() => {
    vi.restoreAllMocks();
    configureLogger("info");
  });

  it("is info unless set, any case of the four levels, and anything else is refused by name", () => {
    expect(readConfig({ ...env, LOG_LEVEL: "" }).logLevel).toBe("info");
    expect(readConfig({ ...env, LOG_LEVEL: "WARN" }).logLevel).toBe("warn");
    expect(readConfig({ ...env, LOG_LEVEL: "debug" }).logLevel).toBe("debug");
    expect(() => readConfig({ ...env, LOG_LEVEL: "verbose" })).toThrow(
      /LOG_LEVEL must be one of debug, info, warn, error, got "verbose"/,
    );
  });

  it("writes one access-log line per request at info", async () => {
    const app = createApp();
    createServices({ ...env, LOG_LEVEL: "info" }); // a container built from LOG_LEVEL sets the isolate's level
    const lines = captureLines();
    const res = await app.request(
      "/health",
      { headers: { "X-Request-ID": "req-level-info" } },
      { ...env, LOG_LEVEL: "info" },
    );
    expect(res.status).toBe(200);
    expect(lines).toEqual([
      expect.objectContaining({ level: "info", msg: "request", request_id: "req-level-info", status: 200 }),
    ]);
  });

  it("at warn drops the access log and other info lines, keeps warnings, errors and the line per delivery attempt", async () => {
    const token = await tenantAdmin("tnt_log_level");
    const wh = await createWebhook(token, { url: hookUrl({ plan: [503] }).url, events: ["*"] });
    const delivery = await seedDelivery(wh.id, "tnt_log_level");

    const warnEnv = { ...env, LOG_LEVEL: "warn" };
    const app = createApp();
    createServices(warnEnv);
    const lines = captureLines();
    const res = await app.request("/health", { headers: { "X-Request-ID": "req-level-warn" } }, warnEnv);
    expect(res.status).toBe(200);
    expect(res.headers.get("X-Request-ID")).toBe("req-level-warn"); // the request id is still answered
    logger.info("dropped", {});
    logger.warn("kept warning", {});
    logger.error("kept error", {});
    await attemptDelivery(deliveryDeps({ now: Date.now() }), delivery);

    expect(lines.map((l) => l.msg)).toEqual(["kept warning", "kept error", "delivery attempt"]);
    expect(lines[2]).toMatchObject({
      level: "info",
      webhook_id: wh.id,
      delivery_id: delivery.id,
      attempt: 1,
      outcome: "retrying",
      status_code: 503,
    });
  });
});
