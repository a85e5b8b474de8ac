import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { computeRetryDelaySeconds, parseRetryAfter, parseRetrySchedule } from "../../src/domain/retry-policy";

const SCHEDULE = [60, 300, 900, 3600, 7200];
const NOW = Date.UTC(2026, 10, 23, 12, 0, 0); // Mon, 23 Nov 2026 12:00:00 GMT
const MIDDLE = () => 0.5; // no jitter
const LOWEST = () => 0;
const HIGHEST = () => 0.9999999999999999;

const delay = (attemptsMade: number, overrides: Partial<Parameters<typeof computeRetryDelaySeconds>[0]> = {}) =>
  computeRetryDelaySeconds({
    attemptsMade,
    scheduleSeconds: SCHEDULE,
    retryAfterSeconds: null,
    random: MIDDLE,
    maxRetryAfterSeconds: 3600,
    ...overrides,
  });

describe("computeRetryDelaySeconds", () => {
  it("follows the ScaiLabs schedule: 6 attempts in all, then none", () => {
    expect([1, 2, 3, 4, 5, 6, 7].map((n) => delay(n))).toEqual([60, 300, 900, 3600, 7200, null, null]);
  });

  it("keeps jitter within ±10% of the scheduled delay", () => {
    expect(delay(1, { random: LOWEST })).toBe(54);
    expect(delay(1, { random: HIGHEST })).toBe(66);
    expect(delay(5, { random: LOWEST })).toBe(6480);
    expect(delay(5, { random: HIGHEST })).toBe(7920);
  });

  it("spreads retries: different random values give different delays", () => {
    const delays = new Set([0, 0.1, 0.3, 0.5, 0.7, 0.9].map((r) => delay(2, { random: () => r })));
    expect(delays.size).toBe(6);
  });

  it("waits at least as long as Retry-After asks when that is longer than the schedule", () => {
    expect(delay(1, { retryAfterSeconds: 120 })).toBe(120);
    expect(delay(1, { retryAfterSeconds: 120, random: HIGHEST })).toBe(120);
  });

  it("keeps the scheduled delay when Retry-After asks for less", () => {
    expect(delay(3, { retryAfterSeconds: 10 })).toBe(900);
    expect(delay(1, { retryAfterSeconds: 0 })).toBe(60);
  });

  it("caps Retry-After at maxRetryAfterSeconds, but never below the schedule", () => {
    expect(delay(1, { retryAfterSeconds: 86400, maxRetryAfterSeconds: 3600 })).toBe(3600);
    expect(delay(5, { retryAfterSeconds: 86400, maxRetryAfterSeconds: 3600 })).toBe(7200);
  });

  it("gives no attempt after the last one even when Retry-After is present", () => {
    expect(delay(6, { retryAfterSeconds: 30 })).toBeNull();
  });

  it("returns whole seconds, at least 1, for tiny schedules too", () => {
    expect(delay(1, { scheduleSeconds: [1], random: LOWEST })).toBe(1);
    expect(delay(1, { scheduleSeconds: [1], random: HIGHEST })).toBe(1);
    expect(delay(2, { scheduleSeconds: [1] })).toBeNull();
  });

  it("rejects an attempt count that cannot follow a failed attempt", () => {
    expect(() => delay(0)).toThrow(RangeError);
    expect(() => delay(1.5)).toThrow(RangeError);
  });

  it("always lands in [max(0.9 × scheduled, capped Retry-After), max(1.1 × scheduled, capped Retry-After)]", () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 1, max: 100_000 }), { minLength: 1, maxLength: 10 }),
        fc.integer({ min: 1, max: 12 }),
        fc.option(fc.integer({ min: 0, max: 1_000_000 })),
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        fc.integer({ min: 1, max: 100_000 }),
        (scheduleSeconds, attemptsMade, retryAfterSeconds, r, maxRetryAfterSeconds) => {
          const result = computeRetryDelaySeconds({
            attemptsMade,
            scheduleSeconds,
            retryAfterSeconds,
            random: () => r,
            maxRetryAfterSeconds,
          });
          const scheduled = scheduleSeconds[attemptsMade - 1];
          if (scheduled === undefined) {
            expect(result).toBeNull();
            return;
          }
          const floor = Math.min(retryAfterSeconds ?? 0, maxRetryAfterSeconds);
          expect(Number.isInteger(result)).toBe(true);
          expect(result).toBeGreaterThanOrEqual(Math.max(1, Math.floor(scheduled * 0.9), floor));
          expect(result).toBeLessThanOrEqual(Math.max(1, Math.ceil(scheduled * 1.1), floor));
        },
      ),
    );
  });
});

describe("parseRetryAfter", () => {
  it("reads delta-seconds", () => {
    expect(parseRetryAfter("120", NOW)).toBe(120);
    expect(parseRetryAfter("0", NOW)).toBe(0);
    expect(parseRetryAfter(" 30 ", NOW)).toBe(30);
  });

  it("reads an IMF-fixdate relative to now, rounding up", () => {
    expect(parseRetryAfter("Mon, 23 Nov 2026 12:02:00 GMT", NOW)).toBe(120);
    expect(parseRetryAfter("Mon, 23 Nov 2026 12:02:00 GMT", NOW + 500)).toBe(120);
    expect(parseRetryAfter("Mon, 23 Nov 2026 12:00:00 GMT", NOW)).toBe(0);
  });

  it("reads the obsolete RFC 850 and asctime date forms", () => {
    expect(parseRetryAfter("Monday, 23-Nov-26 12:01:00 GMT", NOW)).toBe(60);
    expect(parseRetryAfter("Mon Nov 23 12:01:00 2026", NOW)).toBe(60);
  });

  it("returns null for a date in the past", () => {
    expect(parseRetryAfter("Mon, 23 Nov 2026 11:59:59 GMT", NOW)).toBeNull();
    expect(parseRetryAfter("Sun, 06 Nov 1994 08:49:37 GMT", NOW)).toBeNull();
  });

  it("returns null when absent or malformed", () => {
    for (const bad of [
      null,
      "",
      "  ",
      "-5",
      "1.5",
      "+10",
      "10s",
      "soon",
      "Nov 2026",
      "5 minutes",
      "Mon, 32 Nov 2026 12:00:00 GMT",
      "99999999999999999999",
    ]) {
      expect(parseRetryAfter(bad, NOW), String(bad)).toBeNull();
    }
  });
});

describe("parseRetrySchedule", () => {
  it("parses comma-separated positive integers, tolerating spaces", () => {
    expect(parseRetrySchedule("60,300,900,3600,7200")).toEqual(SCHEDULE);
    expect(parseRetrySchedule(" 60 , 300 ")).toEqual([60, 300]);
    expect(parseRetrySchedule("5")).toEqual([5]);
  });

  it("throws a clear error for anything else", () => {
    for (const bad of [
      "",
      " ",
      "60,,300",
      "60,",
      "0",
      "-60",
      "1.5",
      "60;300",
      "abc",
      "60,3e2",
      "99999999999999999999",
    ]) {
      expect(() => parseRetrySchedule(bad), bad).toThrow(/comma-separated positive integers/);
    }
  });
});
