import { parseRetrySchedule } from "../domain/retry-policy";

// Typed settings read once from the Worker's bindings ([vars] in wrangler.toml, secrets from .dev.vars / `wrangler secret put`).
export interface Config {
  jwt: { jwksUrl: string | null; secret: string | null; issuerPrefix: string; audience: string };
  allowInsecureUrls: boolean;
  allowPrivateTargets: boolean;
  deliveryTimeoutMs: number;
  /** Seconds to wait before attempts 2..N; N = length + 1. */
  retryScheduleSeconds: number[];
  failureThreshold: number;
  retentionDays: number;
}

const flag = (v: string | undefined) => v === "true" || v === "1";
const positiveInt = (name: string, v: string | undefined, fallback: number): number => {
  if (v === undefined || v === "") return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`${name} must be a positive integer, got "${v}"`);
  return n;
};

export function readConfig(env: Env): Config {
  return {
    jwt: {
      jwksUrl: env.JWT_JWKS_URL || null,
      secret: env.JWT_SECRET || null,
      issuerPrefix: env.JWT_ISSUER ?? "",
      audience: env.JWT_AUDIENCE ?? "",
    },
    allowInsecureUrls: flag(env.ALLOW_INSECURE_URLS),
    allowPrivateTargets: flag(env.ALLOW_PRIVATE_TARGETS),
    deliveryTimeoutMs: positiveInt("DELIVERY_TIMEOUT_MS", env.DELIVERY_TIMEOUT_MS, 15_000),
    retryScheduleSeconds: parseRetrySchedule(env.RETRY_SCHEDULE || "60,300,900,3600,7200"),
    failureThreshold: positiveInt("FAILURE_THRESHOLD", env.FAILURE_THRESHOLD, 10),
    retentionDays: positiveInt("RETENTION_DAYS", env.RETENTION_DAYS, 30),
  };
}
