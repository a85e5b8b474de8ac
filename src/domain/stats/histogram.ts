// The fixed latency histogram and the failure families: the stored format of webhook_stats_hourly, shared by the
// rollup (write side) and the read model.
import type { ErrorClass } from "../../db/schema";

/**
 * Upper bounds (exclusive, in ms) of the latency histogram's buckets; one last bucket holds everything from 30 s up.
 * Bucket i counts durations in [bound[i-1], bound[i]). This is the stored format of webhook_stats_hourly.latency_histogram:
 * changing it needs a migration that rewrites that column.
 */
export const LATENCY_BUCKET_BOUNDS_MS = [
  5, 10, 25, 50, 75, 100, 150, 200, 300, 400, 500, 750, 1000, 1500, 2000, 3000, 5000, 7500, 10_000, 15_000, 20_000,
  30_000,
] as const;
export const LATENCY_BUCKET_COUNT = LATENCY_BUCKET_BOUNDS_MS.length + 1;

/** The bucket a duration falls in: bucket i holds [bound[i-1], bound[i]). */
export function latencyBucketOf(durationMs: number): number {
  const i = LATENCY_BUCKET_BOUNDS_MS.findIndex((bound) => durationMs < bound);
  return i === -1 ? LATENCY_BUCKET_BOUNDS_MS.length : i;
}

/** The integer durations bucket `i` holds: [lo, hi] (hi is Infinity for the last bucket). */
export function latencyBucketRange(i: number): { lo: number; hi: number } {
  const lo = i === 0 ? 0 : LATENCY_BUCKET_BOUNDS_MS[i - 1]!;
  const upper = LATENCY_BUCKET_BOUNDS_MS[i];
  return { lo, hi: upper === undefined ? Number.POSITIVE_INFINITY : upper - 1 };
}

export const FAILURE_FAMILIES = ["timeout", "connection", "4xx", "5xx", "other"] as const;
export type FailureFamily = (typeof FAILURE_FAMILIES)[number];

/** Every error class has a family (a new class must pick one); a failure without a class, or an unknown one, is "other". */
export const FAILURE_FAMILY_OF: Record<ErrorClass, FailureFamily> = {
  timeout: "timeout",
  connection_refused: "connection",
  dns: "connection",
  tls: "connection",
  network: "connection",
  http_4xx: "4xx", // 429 included
  http_5xx: "5xx",
  redirect: "other",
  invalid_response: "other",
  blocked_target: "other",
};

/**
 * Nearest-rank percentile (`percent` of 100) estimated from the histogram: the bucket holding that rank is exact,
 * the value inside it is interpolated and kept within the observed min and max.
 */
export function percentileFromHistogram(histogram: number[], percent: number, min: number, max: number): number | null {
  const total = histogram.reduce((sum, n) => sum + n, 0);
  if (total === 0) return null;
  const rank = Math.max(1, Math.ceil((percent * total) / 100));
  let below = 0;
  for (let i = 0; i < histogram.length; i++) {
    const n = histogram[i] ?? 0;
    if (n > 0 && below + n >= rank) {
      const range = latencyBucketRange(i);
      const lo = Math.max(range.lo, min);
      const hi = Math.min(range.hi, max);
      return Math.round(lo + ((hi - lo) * (rank - below)) / n);
    }
    below += n;
  }
  return max;
}
