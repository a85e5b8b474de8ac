import { parseRetrySchedule } from "../domain/retry-policy";
import { LOG_LEVELS, type LogLevel } from "./logger";

// Typed settings read once from the Worker's bindings ([vars] in wrangler.toml, secrets from .dev.vars / `wrangler secret put`).
export interface Config {
  jwt: {
    jwksUrl: string | null;
    secret: string | null;
    issuerPrefix: string;
    audience: string;
    /** How long past their cache age the last good JWKS keys keep verifying tokens while refreshes fail. */
    jwksMaxStaleSeconds: number;
    /** Time limit of one JWKS fetch. */
    jwksFetchTimeoutMs: number;
    /** Longest token lifetime accepted (`exp` − `iat`); null: any. */
    maxLifetimeSeconds: number | null;
  };
  /** The origin clients reach the service at (`https://webhooks.example.com`): absolute redirects are built on it. */
  publicOrigin: string | null;
  allowInsecureUrls: boolean;
  allowPrivateTargets: boolean;
  /** Target ports allowed besides 443 (and 80 with insecure URLs). */
  allowedTargetPorts: number[];
  /** DNS-over-HTTPS JSON endpoint that resolves target hosts. */
  dnsResolverUrl: string;
  deliveryTimeoutMs: number;
  /** Seconds to wait before attempts 2..N; N = length + 1. */
  retryScheduleSeconds: number[];
  failureThreshold: number;
  /** Live (not deleted) webhooks one owner may have: a tenant, or a partner's partner-level ones. */
  maxWebhooksPerOwner: number;
  retentionDays: number;
  /**
   * Hours past which a finished delivery is history: it moves to the archive (R2) with its hour's partition, and can no
   * longer change. Also how long publish remembers an event_id (its event's partition lives that long).
   */
  hotWindowHours: number;
  /** Days of daily stats kept (webhook_stats_daily); hourly stats are kept 26 hours. */
  statsRetentionDays: number;
  /** How long past its lease (or due time) a queued delivery waits before the sweep assumes its message was lost. */
  orphanGraceMs: number;
  /** How long an in-flight attempt holds its delivery beyond the delivery timeout. */
  inFlightMarginMs: number;
  /** Lowest level of log line written; the line per delivery attempt is written at any level. */
  logLevel: LogLevel;
  /** How far behind delivery may fall (the oldest due delivery, the oldest waiting probe) before /health answers 503. */
  healthMaxDeliveryLagMs: number;
  /** The shards that take new owners (NEW_OWNER_SHARDS); null: every shard (db/shards.ts). */
  newOwnerShards: number[] | null;
}

/** Optional tuning vars, not in wrangler.toml: the defaults suit production; the fault harness compresses them. */
interface TuningVars {
  ORPHAN_GRACE_SECONDS?: string;
  IN_FLIGHT_MARGIN_SECONDS?: string;
  JWKS_FETCH_TIMEOUT_MS?: string;
}

const flag = (v: string | undefined) => v === "true" || v === "1";
const positiveInt = (name: string, v: string | undefined, fallback: number): number => {
  if (v === undefined || v === "") return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`${name} must be a positive integer, got "${v}"`);
  return n;
};
const nonNegativeInt = (name: string, v: string | undefined, fallback: number): number =>
  v === "0" ? 0 : positiveInt(name, v, fallback);

export function readConfig(env: Env): Config {
  return {
    jwt: {
      jwksUrl: env.JWT_JWKS_URL || null,
      secret: env.JWT_SECRET || null,
      issuerPrefix: env.JWT_ISSUER ?? "",
      audience: env.JWT_AUDIENCE ?? "",
      jwksMaxStaleSeconds: nonNegativeInt("JWKS_MAX_STALE_SECONDS", env.JWKS_MAX_STALE_SECONDS, 86_400),
      jwksFetchTimeoutMs: positiveInt("JWKS_FETCH_TIMEOUT_MS", (env as Env & TuningVars).JWKS_FETCH_TIMEOUT_MS, 3_000),
      maxLifetimeSeconds: env.JWT_MAX_LIFETIME_SECONDS
        ? positiveInt("JWT_MAX_LIFETIME_SECONDS", env.JWT_MAX_LIFETIME_SECONDS, 0)
        : null,
    },
    publicOrigin: origin("PUBLIC_ORIGIN", env.PUBLIC_ORIGIN),
    allowInsecureUrls: flag(env.ALLOW_INSECURE_URLS),
    allowPrivateTargets: flag(env.ALLOW_PRIVATE_TARGETS),
    allowedTargetPorts: parsePorts(env.ALLOWED_TARGET_PORTS),
    dnsResolverUrl: httpUrl("DNS_RESOLVER_URL", env.DNS_RESOLVER_URL || DEFAULT_DNS_RESOLVER_URL),
    deliveryTimeoutMs: positiveInt("DELIVERY_TIMEOUT_MS", env.DELIVERY_TIMEOUT_MS, 15_000),
    retryScheduleSeconds: parseRetrySchedule(env.RETRY_SCHEDULE || "60,300,900,3600,7200"),
    failureThreshold: positiveInt("FAILURE_THRESHOLD", env.FAILURE_THRESHOLD, 10),
    maxWebhooksPerOwner: positiveInt("MAX_WEBHOOKS_PER_OWNER", env.MAX_WEBHOOKS_PER_OWNER, 100),
    retentionDays: positiveInt("RETENTION_DAYS", env.RETENTION_DAYS, 30),
    hotWindowHours: positiveInt("HOT_WINDOW_HOURS", env.HOT_WINDOW_HOURS, 4),
    statsRetentionDays: positiveInt("STATS_RETENTION_DAYS", env.STATS_RETENTION_DAYS, 35),
    orphanGraceMs: positiveInt("ORPHAN_GRACE_SECONDS", (env as Env & TuningVars).ORPHAN_GRACE_SECONDS, 300) * 1000,
    inFlightMarginMs: inFlightMarginSeconds((env as Env & TuningVars).IN_FLIGHT_MARGIN_SECONDS) * 1000,
    logLevel: logLevel(env.LOG_LEVEL),
    healthMaxDeliveryLagMs:
      positiveInt("HEALTH_MAX_DELIVERY_LAG_SECONDS", env.HEALTH_MAX_DELIVERY_LAG_SECONDS, 300) * 1000,
    newOwnerShards: parseShardList(env.NEW_OWNER_SHARDS),
  };
}

function parseShardList(v: string | undefined): number[] | null {
  if (!v?.trim()) return null;
  const shards = v.split(",").map((part) => {
    const shard = Number(part.trim());
    if (!Number.isInteger(shard) || shard < 0 || shard > 255)
      throw new Error(`NEW_OWNER_SHARDS must be a comma-separated list of shard numbers 0-255, got "${v}"`);
    return shard;
  });
  return [...new Set(shards)];
}

// The lease must outlast the 5 s by which a queue message may arrive early, with room for recording the attempt,
// or a duplicate message could claim a delivery whose attempt is still in flight.
const MIN_IN_FLIGHT_MARGIN_SECONDS = 10;
function inFlightMarginSeconds(v: string | undefined): number {
  const n = positiveInt("IN_FLIGHT_MARGIN_SECONDS", v, 60);
  if (n < MIN_IN_FLIGHT_MARGIN_SECONDS)
    throw new Error(`IN_FLIGHT_MARGIN_SECONDS must be at least ${MIN_IN_FLIGHT_MARGIN_SECONDS}, got "${v}"`);
  return n;
}

const DEFAULT_DNS_RESOLVER_URL = "https://cloudflare-dns.com/dns-query";

function parsePorts(v: string | undefined): number[] {
  if (!v?.trim()) return [];
  return v.split(",").map((part) => {
    const port = Number(part.trim());
    if (!Number.isInteger(port) || port < 1 || port > 65535)
      throw new Error(`ALLOWED_TARGET_PORTS must be a comma-separated list of ports 1-65535, got "${v}"`);
    return port;
  });
}

function httpUrl(name: string, v: string): string {
  let url: URL;
  try {
    url = new URL(v);
  } catch {
    throw new Error(`${name} must be an http(s) URL, got "${v}"`);
  }
  if (url.protocol !== "https:" && url.protocol !== "http:")
    throw new Error(`${name} must be an http(s) URL, got "${v}"`);
  return url.toString();
}

/** An http(s) origin, without path, query or trailing slash; null when unset. */
function origin(name: string, v: string | undefined): string | null {
  if (v === undefined || v === "") return null;
  const url = new URL(httpUrl(name, v));
  if (url.origin !== v.replace(/\/$/, ""))
    throw new Error(`${name} must be an origin (scheme, host, port), got "${v}"`);
  return url.origin;
}

function logLevel(v: string | undefined): LogLevel {
  if (v === undefined || v === "") return "info";
  const level = LOG_LEVELS.find((l) => l === v.toLowerCase());
  if (!level) throw new Error(`LOG_LEVEL must be one of ${LOG_LEVELS.join(", ")}, got "${v}"`);
  return level;
}
