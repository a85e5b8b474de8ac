// The "nothing lost" invariants, checked against what the receivers themselves logged. Pure functions over plain data,
// shared by `npm run test:faults` (scripts/faults/run.mjs, real Worker) and test/faults/faults.test.ts (inside workerd).
//
// Inputs:
//   deliveries  every delivery of the run as the admin API reports it, each with its recorded attempts
//               { id, webhook_id, event_id, status, attempt_count, last_error,
//                 attempts: [{ attempt, started_at (ms), duration_ms, success, status_code, error_class }] }
//   requests    every request a receiver got, as it logged it
//               { webhook_id, delivery_id, event_id, ts (X-ScaiKey-Timestamp, s), received_at (ms),
//                 status (what it started to answer, null for none), sent2xx (a complete 2xx left the receiver),
//                 finished_at (ms, when that response was complete), answer (free text) }
//   expected    [{ webhook_id, event_id }]: the deliveries fan-out must have created (optional)
//   opts        { maxAttempts, timeoutMs, scheduleSeconds (RETRY_SCHEDULE, optional: checks no retry came early),
//                 unrecordedWindow: Set of "<webhook_id>/<delivery_id>" whose Worker logged that recording an attempt failed for good
//                 after sending it (the documented at-least-once window) }
//
// An attempt that never reached a receiver (refused / reset before the request arrived) has no request: allowed when
// recorded as a connection failure. A request with no recorded attempt is allowed only inside the at-least-once window.

const TERMINAL = new Set(["success", "failed"]);
const UNREACHED_CLASSES = new Set(["network", "connection_refused", "dns"]);
const BORDERLINE_MS = 250;
const JITTER = 0.1; // src/domain/retry-policy.ts
const EARLY_MS = 5000; // src/domain/delivery/claim.ts: a queue message may arrive this much before its time // a 2xx completed this close to the deadline may legitimately have been a timeout

/** Whether a recorded attempt tells the same story as the request its receiver logged. */
function consistent(r, a, timeoutMs) {
  if (r.sent2xx)
    return (
      a.success || (a.error_class === "timeout" && (r.finished_at ?? 0) - a.started_at > timeoutMs - BORDERLINE_MS)
    );
  if (a.success) return false; // the receiver sent no complete 2xx
  if (r.answer === "hang") return a.error_class === "timeout";
  if (r.answer === "reset") return a.error_class === "network" || a.error_class === "invalid_response";
  if (r.status !== null && r.finished_at !== null) return a.status_code === r.status;
  if (r.status !== null) return a.error_class === "timeout" || a.error_class === "network"; // a body cut short
  return true;
}

/** @returns {{ violations: string[], counts: Record<string, number> }} */
export function checkInvariants({ deliveries, requests, expected = null, opts }) {
  const violations = [];
  const counts = {
    deliveries: deliveries.length,
    success: 0,
    failed: 0,
    dead_lettered: 0,
    not_settled: 0,
    lost: 0,
    attempts_recorded: 0,
    requests_received: requests.length,
    attempts_unreached: 0,
    unrecorded_requests: 0,
    borderline_timeouts: 0,
    sends_after_success: 0,
    duplicate_event_sends: 0,
  };
  const say = (message) => {
    if (violations.length < 200) violations.push(message);
    else if (violations.length === 200) violations.push("… more violations not shown");
  };
  const unrecordedWindow = opts.unrecordedWindow ?? new Set();

  // Nothing lost at fan-out: every expected (endpoint, event) pair has a delivery, and no unexpected one exists.
  const byPair = new Map(deliveries.map((d) => [`${d.webhook_id} ${d.event_id}`, d]));
  if (expected) {
    const expectedPairs = new Set(expected.map((e) => `${e.webhook_id} ${e.event_id}`));
    for (const pair of expectedPairs)
      if (!byPair.has(pair)) {
        counts.lost++;
        say(`lost: no delivery of event ${pair.split(" ")[1]} to endpoint ${pair.split(" ")[0]}`);
      }
    for (const pair of byPair.keys()) if (!expectedPairs.has(pair)) say(`unexpected delivery ${pair}`);
  }

  // Delivery ids are unique per webhook: a delivery is its webhook and its id.
  const keyOf = (webhookId, deliveryId) => `${webhookId}/${deliveryId}`;
  const requestsByDelivery = new Map();
  for (const r of requests) {
    const key = keyOf(r.webhook_id, r.delivery_id);
    const list = requestsByDelivery.get(key) ?? [];
    list.push(r);
    requestsByDelivery.set(key, list);
  }
  const known = new Set(deliveries.map((d) => keyOf(d.webhook_id, d.id)));
  for (const key of requestsByDelivery.keys())
    if (!known.has(key)) say(`receiver got delivery ${key}, which the API does not list`);

  for (const d of deliveries) {
    const where = `delivery ${d.id} (endpoint ${d.webhook_id}, event ${d.event_id})`;
    const attempts = [...d.attempts].sort((a, b) => a.attempt - b.attempt);
    counts.attempts_recorded += attempts.length;
    const inWindow = unrecordedWindow.has(keyOf(d.webhook_id, d.id));
    const deadLettered = /dead-lettered/.test(d.last_error ?? "");

    // Settled.
    if (!TERMINAL.has(d.status)) {
      counts.not_settled++;
      say(`not settled: ${where} is ${d.status} after ${d.attempt_count} attempts`);
      continue;
    }
    counts[d.status]++;
    if (deadLettered) counts.dead_lettered++;

    // Attempt count = attempts recorded, numbered 1..n (a gap only inside the at-least-once window).
    const numbers = attempts.map((a) => a.attempt);
    const contiguous = numbers.every((n, i) => n === i + 1);
    if (attempts.length !== d.attempt_count || !contiguous) {
      if (!(inWindow && numbers.every((n) => n >= 1 && n <= d.attempt_count)))
        say(`attempt count: ${where} says ${d.attempt_count} attempts, recorded ${JSON.stringify(numbers)}`);
    }

    // The outcome agrees with the attempts: success ends at its one successful attempt; failed used them all.
    const successes = attempts.filter((a) => a.success);
    if (d.status === "success") {
      if (successes.length !== 1 || attempts.at(-1)?.success !== true)
        say(
          `success: ${where} has ${successes.length} successful attempts, last ${JSON.stringify(attempts.at(-1) ?? null)}`,
        );
    } else {
      if (successes.length > 0) say(`failed: ${where} has a successful attempt`);
      if (!deadLettered && d.attempt_count !== opts.maxAttempts)
        say(`failed: ${where} ended after ${d.attempt_count} attempts, expected ${opts.maxAttempts}`);
    }

    // Never early: attempt n+1 starts no sooner than its scheduled delay (less jitter and the queue's early-arrival
    // tolerance) after attempt n ended.
    if (opts.scheduleSeconds) {
      for (let i = 1; i < attempts.length; i++) {
        const [prev, cur] = [attempts[i - 1], attempts[i]];
        if (cur.attempt !== prev.attempt + 1) continue;
        const earliest =
          prev.started_at +
          (prev.duration_ms ?? 0) +
          (opts.scheduleSeconds[prev.attempt - 1] ?? 0) * 1000 * (1 - JITTER) -
          EARLY_MS;
        if (cur.started_at < earliest)
          say(
            `too early: attempt ${cur.attempt} of ${where} started ${((earliest - cur.started_at) / 1000).toFixed(1)} s before its retry was due`,
          );
      }
    }

    // The receiver's log against the record, in order. X-ScaiKey-Timestamp is floor(started_at / 1000) of its attempt.
    const got = [...(requestsByDelivery.get(keyOf(d.webhook_id, d.id)) ?? [])].sort(
      (a, b) => a.received_at - b.received_at,
    );
    let next = 0;
    let successRequest = null;
    const unreached = (i) => {
      if (UNREACHED_CLASSES.has(attempts[i].error_class ?? "")) counts.attempts_unreached++;
      else
        say(
          `missing request: attempt ${attempts[i].attempt} of ${where} (${attempts[i].error_class}) never reached its receiver`,
        );
    };
    for (const r of got) {
      // Two attempts can share a second (a duplicate message may claim a retry up to 5 s early): among the attempts
      // with this timestamp, take the first that tells the same story as the receiver, else the first.
      const candidates = [];
      for (let i = next; i < attempts.length; i++)
        if (Math.floor(attempts[i].started_at / 1000) === r.ts) candidates.push(i);
      const match = candidates.find((i) => consistent(r, attempts[i], opts.timeoutMs)) ?? candidates[0] ?? -1;
      if (match === -1) {
        counts.unrecorded_requests++;
        if (!inWindow)
          say(
            `unrecorded: ${where} was sent at ${new Date(r.received_at).toISOString()} (answered ${r.answer}) but no attempt records it`,
          );
        continue;
      }
      for (let i = next; i < match; i++) unreached(i);
      next = match + 1;
      const a = attempts[match];
      if (r.sent2xx && !a.success) {
        const finishedBy = (r.finished_at ?? r.received_at) - a.started_at;
        if (a.error_class === "timeout" && finishedBy > opts.timeoutMs - BORDERLINE_MS) counts.borderline_timeouts++;
        else
          say(
            `2xx not recorded: attempt ${a.attempt} of ${where} got ${r.status} (${r.answer}) but was recorded ${a.error_class} ${a.status_code}`,
          );
      } else if (!consistent(r, a, opts.timeoutMs)) {
        say(
          `mismatch: attempt ${a.attempt} of ${where} recorded ${a.success ? "success" : a.error_class} ${a.status_code}, the receiver answered ${r.answer}`,
        );
      }
      if (a.success) successRequest = r;
    }
    for (let i = next; i < attempts.length; i++) unreached(i);

    // Never sent again once successful (neither after the recorded success nor after any 2xx the receiver sent).
    const firstOk = got.find((r) => r.sent2xx) ?? successRequest;
    if (firstOk) {
      const after = got.slice(got.indexOf(firstOk) + 1);
      counts.sends_after_success += after.length;
      if (after.length > 0 && !inWindow)
        say(`sent again after success: ${where} got ${after.length} more request(s) after its 2xx`);
    }
  }

  // One delivery per (endpoint, event): a receiver never gets the same event through two deliveries.
  const deliveriesOfPair = new Map();
  for (const r of requests) {
    const key = `${r.webhook_id} ${r.event_id}`;
    const set = deliveriesOfPair.get(key) ?? new Set();
    set.add(r.delivery_id);
    deliveriesOfPair.set(key, set);
  }
  for (const [key, set] of deliveriesOfPair)
    if (set.size > 1) {
      counts.duplicate_event_sends++;
      say(`event sent twice: ${key} arrived through deliveries ${[...set].join(", ")}`);
    }

  return { violations, counts };
}

/**
 * The stats endpoint's counts for one endpoint against what the deliveries and attempts say.
 * `stats` is the body of GET /api/v1/admin/webhooks/{id}/stats (a window covering the whole run).
 */
export function checkStats(stats, deliveries) {
  const problems = [];
  const byStatus = { total: deliveries.length, success: 0, failed: 0, pending: 0, retrying: 0, cancelled: 0 };
  const families = { timeout: 0, connection: 0, "4xx": 0, "5xx": 0, other: 0 };
  const familyOf = {
    timeout: "timeout",
    connection_refused: "connection",
    dns: "connection",
    tls: "connection",
    network: "connection",
    http_4xx: "4xx",
    http_5xx: "5xx",
  };
  let attempts = 0;
  let successes = 0;
  for (const d of deliveries) {
    byStatus[d.status] = (byStatus[d.status] ?? 0) + 1;
    for (const a of d.attempts) {
      attempts++;
      if (a.success) successes++;
      else families[familyOf[a.error_class] ?? "other"]++;
    }
  }
  for (const [k, v] of Object.entries(byStatus))
    if (stats.deliveries?.[k] !== v) problems.push(`deliveries.${k}: stats ${stats.deliveries?.[k]}, deliveries ${v}`);
  if (stats.attempts !== attempts) problems.push(`attempts: stats ${stats.attempts}, recorded ${attempts}`);
  for (const [k, v] of Object.entries(families))
    if (stats.failures_by_class?.[k] !== v)
      problems.push(`failures_by_class.${k}: stats ${stats.failures_by_class?.[k]}, recorded ${v}`);
  if (Array.isArray(stats.series)) {
    const sum = (field) => stats.series.reduce((n, p) => n + (p[field] ?? 0), 0);
    if (sum("attempts") !== attempts) problems.push(`series attempts: ${sum("attempts")}, recorded ${attempts}`);
    if (sum("successes") !== successes) problems.push(`series successes: ${sum("successes")}, recorded ${successes}`);
    if (sum("deliveries_succeeded") !== byStatus.success)
      problems.push(`series deliveries_succeeded: ${sum("deliveries_succeeded")}, deliveries ${byStatus.success}`);
    // A delivery ends as failed in the series at its last attempt; a dead-lettered one has no such attempt.
    const endedFailed = deliveries.filter(
      (d) => d.status === "failed" && d.attempts.some((a) => a.attempt === d.attempt_count && !a.success),
    ).length;
    if (sum("deliveries_failed") !== endedFailed)
      problems.push(`series deliveries_failed: ${sum("deliveries_failed")}, deliveries ${endedFailed}`);
  }
  return problems;
}

const median = (xs) => (xs.length === 0 ? null : [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]);
const p90 = (xs) => (xs.length === 0 ? null : [...xs].sort((a, b) => a - b)[Math.ceil(0.9 * xs.length) - 1]);

/**
 * Healthy deliveries are not held up by a receiver that times out. `probes.alone` are events only healthy endpoints
 * get; `probes.beside`, published after them, also go to endpoints whose receivers hang past the timeout. Each is
 * { event_id, published_at (ms, when its publish request left) }. A healthy delivery's wait is from its event's publish
 * to the first request its endpoint logged for that event.
 *
 * Held up: the healthy deliveries' median wait beside the hanging receivers is more than twice their median wait alone
 * plus half a delivery timeout. A healthy delivery that waited for a hanging send would wait a whole timeout more.
 * @returns {{ violations: string[], figures: Record<string, number | null> }}
 */
export function checkNotHeldUp({ requests, probes, healthyWebhookIds, timeoutMs }) {
  const waits = (events) => {
    const publishedAt = new Map(events.map((e) => [e.event_id, e.published_at]));
    const first = new Map();
    for (const r of requests) {
      if (!healthyWebhookIds.has(r.webhook_id) || !publishedAt.has(r.event_id)) continue;
      const key = `${r.webhook_id} ${r.event_id}`;
      first.set(key, Math.min(first.get(key) ?? Number.POSITIVE_INFINITY, r.received_at));
    }
    return [...first].map(([key, at]) => at - publishedAt.get(key.split(" ")[1]));
  };
  const alone = waits(probes.alone);
  const beside = waits(probes.beside);
  const figures = {
    alone_deliveries: alone.length,
    alone_p50_ms: median(alone),
    alone_p90_ms: p90(alone),
    beside_deliveries: beside.length,
    beside_p50_ms: median(beside),
    beside_p90_ms: p90(beside),
    bound_p50_ms: alone.length === 0 ? null : 2 * median(alone) + timeoutMs / 2,
  };
  const violations = [];
  if (alone.length === 0 || beside.length === 0)
    violations.push(`held up: no healthy probe delivery arrived (alone ${alone.length}, beside ${beside.length})`);
  else if (figures.beside_p50_ms > figures.bound_p50_ms)
    violations.push(
      `held up: healthy deliveries waited ${figures.beside_p50_ms} ms (median) beside the timing-out receivers, over ${figures.bound_p50_ms} ms (2 × ${figures.alone_p50_ms} ms alone + half the ${timeoutMs} ms timeout)`,
    );
  return { violations, figures };
}

/**
 * Ordered webhooks get one delivery at a time, in publish order (docs/architecture.md#flow-control). For each of
 * `orderedWebhookIds`: the receiver's sequence of first-successful requests, one per delivery, in the order they
 * arrived, is the deliveries' publish order (their ids, which grow with publish time within a webhook); and a request of
 * another delivery never arrives before the request before it was answered (two at once). A delivery that failed for
 * good has no successful request and is left out; so is a request never answered (a hang: its sender timed out).
 * @returns {{ violations: string[], figures: Record<string, number> }}
 */
export function checkOrdered({ requests, deliveries, orderedWebhookIds }) {
  const violations = [];
  const figures = { ordered_webhooks: orderedWebhookIds.size, ordered_deliveries: 0, ordered_in_order: 0 };
  for (const webhookId of orderedWebhookIds) {
    const got = requests.filter((r) => r.webhook_id === webhookId).sort((a, b) => a.received_at - b.received_at);
    figures.ordered_deliveries += deliveries.filter((d) => d.webhook_id === webhookId).length;
    const firstOk = new Map();
    for (const r of got) if (r.sent2xx && !firstOk.has(r.delivery_id)) firstOk.set(r.delivery_id, r);
    const sequence = [...firstOk.keys()]; // in arrival order (got is)
    for (let i = 1; i < sequence.length; i++)
      if (sequence[i] < sequence[i - 1])
        violations.push(
          `out of order: ordered endpoint ${webhookId} got delivery ${sequence[i]} after ${sequence[i - 1]}, published before it`,
        );
    figures.ordered_in_order += sequence.length;
    for (let i = 1; i < got.length; i++) {
      const [before, r] = [got[i - 1], got[i]];
      if (r.delivery_id !== before.delivery_id && before.finished_at !== null && r.received_at < before.finished_at)
        violations.push(
          `two at once: ordered endpoint ${webhookId} got delivery ${r.delivery_id} while delivery ${before.delivery_id} was still being answered`,
        );
    }
  }
  return { violations, figures };
}
