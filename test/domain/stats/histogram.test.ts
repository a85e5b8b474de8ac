import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  LATENCY_BUCKET_BOUNDS_MS,
  LATENCY_BUCKET_COUNT,
  latencyBucketOf,
  latencyBucketRange,
} from "../../../src/domain/stats/histogram";

describe("latencyBucketOf", () => {
  it("puts every duration in the bucket whose range holds it", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 120_000 }), (ms) => {
        const { lo, hi } = latencyBucketRange(latencyBucketOf(ms));
        expect(ms).toBeGreaterThanOrEqual(lo);
        expect(ms).toBeLessThanOrEqual(hi);
      }),
    );
  });

  it("starts a bucket at each bound and keeps the last one open-ended", () => {
    expect(latencyBucketOf(0)).toBe(0);
    LATENCY_BUCKET_BOUNDS_MS.forEach((bound, i) => {
      expect(latencyBucketOf(bound - 1)).toBe(i);
      expect(latencyBucketOf(bound)).toBe(i + 1);
    });
    expect(latencyBucketOf(10 * 60_000)).toBe(LATENCY_BUCKET_COUNT - 1);
  });
});
