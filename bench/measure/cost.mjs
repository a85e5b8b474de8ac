// 5. Cost per delivery through the instrumented copy of the Worker (bench/instrumented.ts): D1 round trips,
// statements, rows read and written (D1's own meta), queue calls and messages, publish side (fetch) and consumer side
// (queue); and the same for one admin GET and list request.
import { mapBounded } from "../../scripts/lib/bounded-map.mjs";
import { api, DELIVERY_TENANT, eventFor, recordedSuccesses, waitFor } from "../client.mjs";

const COST_EVENTS = 50; // x the delivery endpoints
const ADMIN_REQUESTS = 20;

/** Counters of the instrumented Worker once its consumer has received `messages` and they stop moving. */
async function settledCounters(inst, messages) {
  let last = null;
  await waitFor(
    "the instrumented consumer to settle",
    async () => {
      const c = await api(inst.base, "GET", "/__bench/counters");
      const settled =
        last && c.queue.queueMessagesReceived >= messages && JSON.stringify(c.queue) === JSON.stringify(last.queue);
      last = c;
      return settled;
    },
    { everyMs: 1000, timeoutMs: 60_000 },
  );
  return last;
}

async function perAdminRequest(inst, instData, tenantToken) {
  const perRequest = {};
  for (const [name, path] of [
    ["get", `/api/v1/admin/webhooks/${instData.admin[0]}`],
    ["list", "/api/v1/admin/webhooks/"],
  ]) {
    await api(inst.base, "POST", "/__bench/reset");
    for (let i = 0; i < ADMIN_REQUESTS; i++) await api(inst.base, "GET", path, undefined, tenantToken);
    const c = (await api(inst.base, "GET", "/__bench/counters")).fetch;
    const per = (x) => x / ADMIN_REQUESTS;
    perRequest[name] = {
      d1_round_trips: per(c.d1RoundTrips),
      d1_statements: per(c.d1Statements),
      d1_rows_read: per(c.d1RowsRead),
      d1_rows_written: per(c.d1RowsWritten),
    };
  }
  return perRequest;
}

export async function measureCost({
  inst,
  instData,
  adminToken,
  tenantToken,
  deliveryEndpoints,
  publishConcurrency,
  tagCount,
  note,
}) {
  const deliveries = COST_EVENTS * deliveryEndpoints;
  note(`5. cost per delivery: ${COST_EVENTS} events x ${deliveryEndpoints} endpoints through the instrumented Worker`);
  await api(inst.base, "POST", "/__bench/reset");
  const before = await tagCount("i-delivery");
  await mapBounded(
    Array.from({ length: COST_EVENTS }, (_, i) => i),
    publishConcurrency,
    (i) => api(inst.base, "POST", "/api/v1/events", eventFor(DELIVERY_TENANT, i), adminToken),
  );
  await waitFor("the cost run's deliveries", async () => (await tagCount("i-delivery")) >= before + deliveries, {
    timeoutMs: 300_000,
  });
  const counters = await settledCounters(inst, deliveries);
  const recorded = await recordedSuccesses(inst.base, adminToken, instData.delivery);
  if (recorded !== deliveries) throw new Error(`cost run: ${recorded} of ${deliveries} deliveries recorded as success`);
  const perRequest = await perAdminRequest(inst, instData, tenantToken);

  const per = (x) => x / deliveries;
  const f = counters.fetch;
  const q = counters.queue;
  const batches = Math.max(1, q.queueBatchesReceived);
  const cost = {
    deliveries,
    recorded_successes: recorded,
    publish_side_per_delivery: {
      d1_round_trips: per(f.d1RoundTrips),
      d1_statements: per(f.d1Statements),
      d1_rows_read: per(f.d1RowsRead),
      d1_rows_written: per(f.d1RowsWritten),
      queue_calls: per(f.queueSendCalls + f.queueSendBatchCalls),
      queue_messages_sent: per(f.queueMessagesSent),
    },
    consumer_side_per_delivery: {
      d1_round_trips: per(q.d1RoundTrips),
      d1_statements: per(q.d1Statements),
      d1_rows_read: per(q.d1RowsRead),
      d1_rows_written: per(q.d1RowsWritten),
      queue_calls: per(q.queueSendCalls + q.queueSendBatchCalls),
      queue_messages_received: per(q.queueMessagesReceived),
      queue_batches: per(q.queueBatchesReceived),
      d1_wait_ms: per(q.d1Ms),
    },
    // One consumer invocation (a queue batch), start to finish, and the part of it spent waiting on D1 and on the
    // receiver (summed over concurrent requests).
    consumer_per_batch: {
      deliveries: q.queueMessagesReceived / batches,
      handler_ms: q.handlerMs / batches,
      d1_wait_ms: q.d1Ms / batches,
      outbound_ms_summed: counters.outbound.ms / batches,
    },
    outbound: {
      fetches_per_delivery: per(counters.outbound.fetches),
      ms_per_fetch: counters.outbound.ms / Math.max(1, counters.outbound.fetches),
    },
    // Queues bill per 64 KB operation: each message is written once, and read and deleted (acked) once per delivery to the consumer.
    queue_billed_operations_per_delivery: per(f.queueMessagesSent + q.queueMessagesSent + 2 * q.queueMessagesReceived),
    meta_missing: f.d1MetaMissing + q.d1MetaMissing,
    // Where the database's own time goes (D1's meta.duration), per delivery, heaviest first.
    d1_sql_ms_per_delivery: Object.keys({ ...f.d1SqlMsByStatement, ...q.d1SqlMsByStatement })
      .map((statement) => {
        const both = [f.d1SqlMsByStatement[statement], q.d1SqlMsByStatement[statement]].filter(Boolean);
        return {
          statement,
          calls: both.reduce((n, e) => n + e.calls, 0),
          ms_per_delivery: per(both.reduce((n, e) => n + e.ms, 0)),
        };
      })
      .sort((a, b) => b.ms_per_delivery - a.ms_per_delivery),
    per_request: perRequest,
  };
  note(
    `   per delivery: ${per(f.d1RoundTrips + q.d1RoundTrips).toFixed(2)} D1 round trips, ${per(f.d1Statements + q.d1Statements).toFixed(2)} statements, ${per(f.d1RowsRead + q.d1RowsRead).toFixed(1)} rows read, ${per(f.d1RowsWritten + q.d1RowsWritten).toFixed(1)} rows written`,
  );
  const pb = cost.consumer_per_batch;
  note(
    `   per consumer batch (${pb.deliveries.toFixed(1)} deliveries): ${pb.handler_ms.toFixed(1)} ms, of which D1 ${pb.d1_wait_ms.toFixed(1)} ms; requests ${pb.outbound_ms_summed.toFixed(1)} ms summed`,
  );
  for (const e of cost.d1_sql_ms_per_delivery.slice(0, 6))
    note(`     D1 time ${e.ms_per_delivery.toFixed(3)} ms/delivery (${e.calls} calls): ${e.statement}`);
  return cost;
}
