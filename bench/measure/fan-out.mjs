// 3. Fan-out: time to publish one event to N endpoints (the subject), and its D1 and queue calls (the instrumented copy).
import { api, eventFor, fanOutTenant, waitFor } from "../client.mjs";

export const FAN_OUT_SIZES = [1, 100, 1000];
const REPEATS = 5;

export async function measureFanOut({ subject, subjectTag, instrumented, adminToken, tagCount, note }) {
  const results = [];
  for (const n of FAN_OUT_SIZES) {
    const times = [];
    for (let k = 0; k < REPEATS; k++) {
      const before = await tagCount(`${subjectTag}-fan${n}`);
      const started = performance.now();
      const answer = await api(subject.base, "POST", "/api/v1/events", eventFor(fanOutTenant(n), k), adminToken);
      times.push(performance.now() - started);
      if (answer.deliveries !== n) throw new Error(`fan-out ${n}: publish created ${answer.deliveries} deliveries`);
      await waitFor(`fan-out ${n} deliveries`, async () => (await tagCount(`${subjectTag}-fan${n}`)) >= before + n, {
        timeoutMs: 120_000,
      });
    }
    // An uncounted publish first: the first one of an hour creates that hour's partitions when the storage cron (not
    // run by the bench) has not made them ahead, as it does in production.
    const warmBefore = await tagCount(`i-fan${n}`);
    await api(instrumented.base, "POST", "/api/v1/events", eventFor(fanOutTenant(n), REPEATS), adminToken);
    await waitFor(
      `fan-out ${n} deliveries (instrumented)`,
      async () => (await tagCount(`i-fan${n}`)) >= warmBefore + n,
      {
        timeoutMs: 120_000,
      },
    );
    await api(instrumented.base, "POST", "/__bench/reset");
    const instBefore = await tagCount(`i-fan${n}`);
    await api(instrumented.base, "POST", "/api/v1/events", eventFor(fanOutTenant(n), 0), adminToken);
    const counters = (await api(instrumented.base, "GET", "/__bench/counters")).fetch;
    await waitFor(
      `fan-out ${n} deliveries (instrumented)`,
      async () => (await tagCount(`i-fan${n}`)) >= instBefore + n,
      { timeoutMs: 120_000 },
    );
    const sorted = [...times].sort((a, b) => a - b);
    const median = sorted[Math.floor(sorted.length / 2)];
    results.push({
      endpoints: n,
      publish_ms_median: median,
      publish_ms_max: sorted.at(-1),
      d1_round_trips: counters.d1RoundTrips,
      d1_statements: counters.d1Statements,
      d1_rows_read: counters.d1RowsRead,
      d1_rows_written: counters.d1RowsWritten,
      queue_calls: counters.queueSendCalls + counters.queueSendBatchCalls,
      queue_messages: counters.queueMessagesSent,
    });
    note(
      `   ${n}: ${median.toFixed(0)} ms median; ${counters.d1RoundTrips} D1 round trips, ${counters.d1Statements} statements, ${counters.queueSendBatchCalls} sendBatch calls`,
    );
  }
  return results;
}
