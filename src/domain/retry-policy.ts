// When to try a failed delivery again: the configured schedule with jitter, stretched to honour Retry-After.
const JITTER = 0.1;

/**
 * Seconds a `Retry-After` header asks us to wait: delta-seconds (`120`) or an HTTP-date, measured from `nowMs`.
 * Null when absent, malformed, or in the past.
 */
export function parseRetryAfter(header: string | null, nowMs: number): number | null {
  if (header === null) return null;
  const text = header.trim();
  if (/^\d+$/.test(text)) {
    const seconds = Number(text);
    return Number.isSafeInteger(seconds) ? seconds : null;
  }
  // Only the three HTTP-date forms (IMF-fixdate, RFC 850, asctime); Date.parse alone would also take "-5" or "Nov 2026".
  if (!HTTP_DATE.test(text)) return null;
  const at = Date.parse(text); // asctime carries no zone: read as local time, which is UTC in Workers
  if (Number.isNaN(at)) return null;
  const seconds = Math.ceil((at - nowMs) / 1000);
  return seconds >= 0 ? seconds : null;
}

const HTTP_DATE =
  /^(?:(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT|(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday), \d{2}-[A-Z][a-z]{2}-\d{2} \d{2}:\d{2}:\d{2} GMT|(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) [A-Z][a-z]{2} [ \d]\d \d{2}:\d{2}:\d{2} \d{4})$/;

/**
 * Seconds to wait before the next attempt, or null when none is left. `scheduleSeconds` lists the delays
 * before attempts 2..N, so a delivery gets N = scheduleSeconds.length + 1 attempts. The scheduled delay
 * gets ±10% jitter (so endpoints failing together don't retry together); a Retry-After, capped at
 * `maxRetryAfterSeconds`, can only lengthen it. Always a whole number of seconds, at least 1.
 */
export function computeRetryDelaySeconds(opts: {
  attemptsMade: number;
  scheduleSeconds: number[];
  retryAfterSeconds: number | null;
  random: () => number;
  maxRetryAfterSeconds: number;
}): number | null {
  const { attemptsMade, scheduleSeconds } = opts;
  if (!Number.isInteger(attemptsMade) || attemptsMade < 1)
    throw new RangeError(`attemptsMade must be a positive integer, got ${attemptsMade}`);
  const scheduled = scheduleSeconds[attemptsMade - 1];
  if (scheduled === undefined) return null;
  const jittered = Math.round(scheduled * (1 + (opts.random() * 2 - 1) * JITTER));
  const requested = opts.retryAfterSeconds === null ? 0 : Math.min(opts.retryAfterSeconds, opts.maxRetryAfterSeconds);
  return Math.max(1, jittered, Math.ceil(requested));
}

/** `RETRY_SCHEDULE` text such as `60,300,900,3600,7200` → seconds; throws on anything but positive integers. */
export function parseRetrySchedule(text: string): number[] {
  const parts = text.split(",").map((part) => part.trim());
  const schedule = parts.map((part) => (/^\d+$/.test(part) ? Number(part) : Number.NaN));
  if (schedule.some((seconds) => !Number.isSafeInteger(seconds) || seconds <= 0)) {
    throw new Error(`retry schedule must be comma-separated positive integers (seconds), got "${text}"`);
  }
  return schedule;
}
