// The rate limit's grants (SendWindow, the policy inside each webhook's Durable Object), over random traffic: never
// more than the limit in any window, sends paced evenly, refused only when their start is too far, and the refused told
// to come back at the limit's pace.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  RATE_LIMIT_MAX_WAIT_MS,
  RATE_WINDOW_MS,
  type RateVerdict,
  retryDelaySeconds,
  SendWindow,
} from "../../../src/domain/delivery/rate-limit";
import { mostInWindow } from "../../helpers/flow";

/** Asks at each of `gaps` (ms after the one before), from t = 0; the grants' send times and the refusals. */
function drive(limit: number, gaps: readonly number[]) {
  const window = new SendWindow();
  let now = 0;
  const sends: number[] = [];
  const refusals: { at: number; retryAt: number }[] = [];
  for (const gap of gaps) {
    now += gap;
    const verdict: RateVerdict = window.acquire(limit, now, RATE_LIMIT_MAX_WAIT_MS);
    if ("sendInMs" in verdict) sends.push(now + verdict.sendInMs);
    else refusals.push({ at: now, retryAt: now + verdict.retryInMs });
  }
  return { sends, refusals };
}

const traffic = fc.record({
  limit: fc.integer({ min: 1, max: 50 }),
  gaps: fc.array(fc.integer({ min: 0, max: 400 }), { minLength: 1, maxLength: 300 }),
});

describe("SendWindow", () => {
  it("never grants more than the limit in any window, whatever comes", () => {
    fc.assert(
      fc.property(traffic, ({ limit, gaps }) => {
        const { sends } = drive(limit, gaps);
        expect(mostInWindow(sends, RATE_WINDOW_MS)).toBeLessThanOrEqual(limit);
      }),
    );
  });

  it("paces sends evenly, and makes a send wait at most RATE_LIMIT_MAX_WAIT_MS", () => {
    expect(drive(3, [0, 0, 0]).sends).toEqual([0, 350, 700]);
    expect(drive(3, [0, 400, 400]).sends).toEqual([0, 400, 800]); // slower than the pace: at once
    fc.assert(
      fc.property(traffic, ({ limit, gaps }) => {
        const window = new SendWindow();
        let now = 0;
        for (const gap of gaps) {
          now += gap;
          const verdict = window.acquire(limit, now, RATE_LIMIT_MAX_WAIT_MS);
          if ("sendInMs" in verdict) expect(verdict.sendInMs).toBeLessThanOrEqual(RATE_LIMIT_MAX_WAIT_MS);
          else expect(verdict.retryInMs).toBeGreaterThan(RATE_LIMIT_MAX_WAIT_MS);
        }
      }),
    );
  });

  it("spreads a burst's refused sends at the limit's pace, so they come back as fast as they can go", () => {
    const { sends, refusals } = drive(10, Array(40).fill(0));
    expect(sends).toHaveLength(10);
    const retries = refusals.map((r) => r.retryAt);
    expect(retries).toEqual([...retries].sort((a, b) => a - b));
    // The first comes back when the window opens; each second after, as many as the limit.
    expect(retries[0]).toBe(RATE_WINDOW_MS);
    expect(mostInWindow(retries, RATE_WINDOW_MS)).toBe(10);
    // Back in the queue for whole seconds: no sooner than its slot less the wait it may do there.
    for (const { at, retryAt } of refusals)
      expect(at + retryDelaySeconds(retryAt - at) * 1000).toBeGreaterThanOrEqual(retryAt - RATE_LIMIT_MAX_WAIT_MS);
  });

  it("follows a changed limit from the next send on", () => {
    const window = new SendWindow();
    expect(window.acquire(5, 0, 0)).toEqual({ sendInMs: 0 }); // the next at 210 ms
    expect(window.acquire(5, 100, 0)).toHaveProperty("retryInMs");
    expect(window.acquire(1000, 210, 0)).toEqual({ sendInMs: 0 }); // raised: the next 1.05 ms later
    expect(window.acquire(1000, 212, 0)).toEqual({ sendInMs: 0 });
    expect(window.acquire(1, 214, 0)).toEqual({ sendInMs: 0 }); // lowered: the next 1.05 s later
    expect(window.acquire(1, 1000, 0)).toHaveProperty("retryInMs");
  });
});
