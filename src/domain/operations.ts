// The platform's operations view: how far behind delivery is, the cron jobs' last runs, open recoveries, the last
// hour's attempts and failures, and the webhooks that fail or were auto-disabled. One D1 batch of indexed reads, each
// bounded (lists and counts stop at a limit), read from what the pipeline already records.
import type { Database } from "../db/client";
import type { RecoveryKind } from "../db/schema";
import { allShards, type ShardScoped } from "../db/shards";
import { toIso } from "../lib/time";
import { isOverdue, SCHEDULED_JOBS } from "./job-runs";
import {
  ACTIVE_DELIVERY_COUNTS,
  deliveryLagMs,
  pipelineStatements,
  pipelineStateOf,
  queueLagMs,
  waitingProbeSentAt,
} from "./pipeline-health";
import { FAILURE_FAMILIES, type FailureFamily } from "./stats/histogram";
import { windowBounds } from "./stats/read-model";
import { webhookStatus } from "./webhooks";

/** Items listed per section (open recoveries, troubled webhooks). */
export const OPERATIONS_LIST_LIMIT = 50;
/** Counts stop here: a count of this value means at least that many. */
export const OPERATIONS_COUNT_LIMIT = 10_000;

const OPEN_RECOVERIES = `SELECT id, webhook_id, kind, since, until, cursor, requested_at FROM webhook_recoveries
  WHERE finished_at IS NULL ORDER BY id LIMIT ?1`;
const OPEN_RECOVERY_COUNT = `SELECT count(*) AS n FROM (SELECT 1 FROM webhook_recoveries WHERE finished_at IS NULL LIMIT ?1)`;

const FAMILY_COLUMNS: Record<FailureFamily, string> = {
  timeout: "failures_timeout",
  connection: "failures_connection",
  "4xx": "failures_4xx",
  "5xx": "failures_5xx",
  other: "failures_other",
};
const SUMMED = ["attempts", "successes", "deliveries_succeeded", "deliveries_failed", ...Object.values(FAMILY_COLUMNS)];
const sumsOf = (prefix = "") => SUMMED.map((c) => `coalesce(sum(${prefix}${c}), 0) AS ${c}`).join(", ");
// Through webhook_stats_hourly_hour_idx: every webhook's hours in the window (written with the attempts they count).
const LAST_HOUR = `SELECT ${sumsOf()} FROM webhook_stats_hourly WHERE hour_start >= ?1 AND hour_start < ?2`;

// Through webhook_endpoints_failing_idx (webhooks with consecutive failures only), worst first. Manually disabled
// webhooks are left out: nobody expects them to deliver.
const TROUBLED = `FROM webhook_endpoints WHERE failure_count > 0 AND deleted_at IS NULL
  AND (enabled = 1 OR disabled_reason IN ('consecutive_failures', 'gone')) ORDER BY failure_count DESC`;
const TROUBLED_WEBHOOKS = `SELECT id, tenant_id, partner_id, enabled, disabled_reason, failure_count, last_failure_at,
    disabled_at ${TROUBLED} LIMIT ?1`;
const TROUBLED_COUNTS = `SELECT coalesce(sum(enabled = 1), 0) AS failing, coalesce(sum(enabled = 0), 0) AS auto_disabled
  FROM (SELECT enabled ${TROUBLED} LIMIT ?1)`;

type Row = Record<string, unknown>;
const num = (row: Row | undefined, column: string) => Number(row?.[column] ?? 0);
const seconds = (ms: number) => Math.floor(ms / 1000);

/** One shard's operations view at `now`, in one D1 round trip. */
export async function readOperations(db: Database, now: number, maxLagMs: number) {
  const d1 = db.$client;
  const pipeline = pipelineStatements(db, now);
  const hour = windowBounds("1h", now);
  const results = await d1.batch<Row>([
    ...pipeline,
    d1.prepare(ACTIVE_DELIVERY_COUNTS).bind(OPERATIONS_COUNT_LIMIT),
    d1.prepare(OPEN_RECOVERIES).bind(OPERATIONS_LIST_LIMIT),
    d1.prepare(OPEN_RECOVERY_COUNT).bind(OPERATIONS_COUNT_LIMIT),
    d1.prepare(LAST_HOUR).bind(hour.from, hour.until),
    d1.prepare(TROUBLED_WEBHOOKS).bind(OPERATIONS_LIST_LIMIT),
    d1.prepare(TROUBLED_COUNTS).bind(OPERATIONS_COUNT_LIMIT),
  ]);
  const state = pipelineStateOf(results.slice(0, pipeline.length));
  const [active, recoveries, recoveryCount, stats, troubled, troubledCounts] = results
    .slice(pipeline.length)
    .map((r) => r.results);
  const first = (rows: Row[] | undefined) => rows?.[0];
  const lastHour = (column: string) => num(first(stats), column);
  const deliveryLag = deliveryLagMs(state, now);
  const queueLag = queueLagMs(state, now);
  const activeCount = num(first(active), "active");
  const retrying = num(first(active), "retrying");

  return {
    generated_at: toIso(now)!,
    delivery: {
      lag_seconds: seconds(deliveryLag),
      lagging: deliveryLag > maxLagMs,
      max_lag_seconds: seconds(maxLagMs),
      oldest_due: state.oldestDue && {
        delivery_id: state.oldestDue.id,
        webhook_id: state.oldestDue.webhookId,
        status: state.oldestDue.status,
        attempt_count: state.oldestDue.attemptCount,
        due_at: toIso(state.oldestDue.dueAt)!,
      },
      pending: activeCount - retrying,
      retrying,
    },
    queue: {
      watermark: toIso(state.watermark),
      oldest_waiting_probe_at: toIso(waitingProbeSentAt(state)),
      lag_seconds: seconds(queueLag),
      lagging: queueLag > maxLagMs,
    },
    cron_jobs: SCHEDULED_JOBS.map((job) => {
      const run = state.jobRuns.find((r) => r.name === job.name);
      return {
        name: job.name,
        cron: job.cron,
        period_seconds: seconds(job.periodMs),
        last_started_at: toIso(run?.lastStartedAt),
        last_finished_at: toIso(run?.lastFinishedAt),
        last_outcome: run?.lastOutcome ?? null,
        last_error_class: run?.lastErrorClass ?? null,
        last_succeeded_at: toIso(run?.lastSucceededAt),
        running: run?.lastStartedAt != null && run.lastStartedAt > (run.lastFinishedAt ?? Number.NEGATIVE_INFINITY),
        overdue: isOverdue(job, run, now),
      };
    }),
    recoveries: {
      open: num(first(recoveryCount), "n"),
      items: (recoveries ?? []).map((r) => ({
        id: r.id as number,
        webhook_id: r.webhook_id as string,
        kind: r.kind as RecoveryKind,
        since: toIso(r.since as number)!,
        until: toIso(r.until as number)!,
        cursor: toIso(r.cursor as number)!,
        requested_at: toIso(r.requested_at as number)!,
      })),
    },
    last_hour: {
      from: toIso(hour.from)!,
      to: toIso(hour.until)!,
      attempts: lastHour("attempts"),
      successes: lastHour("successes"),
      deliveries_succeeded: lastHour("deliveries_succeeded"),
      deliveries_failed: lastHour("deliveries_failed"),
      failures_by_class: Object.fromEntries(
        FAILURE_FAMILIES.map((family) => [family, lastHour(FAMILY_COLUMNS[family])]),
      ) as Record<FailureFamily, number>,
    },
    webhooks: {
      failing: num(first(troubledCounts), "failing"),
      auto_disabled: num(first(troubledCounts), "auto_disabled"),
      items: (troubled ?? []).map((w) => ({
        id: w.id as string,
        tenant_id: w.tenant_id as string | null,
        partner_id: w.partner_id as string | null,
        status: webhookStatus({ enabled: w.enabled === 1, disabledReason: w.disabled_reason as string | null }),
        failure_count: w.failure_count as number,
        last_failure_at: toIso(w.last_failure_at as number | null),
        disabled_at: toIso(w.disabled_at as number | null),
        disabled_reason: w.disabled_reason as string | null,
      })),
    },
  };
}

type ShardOperations = Awaited<ReturnType<typeof readOperations>>;

/**
 * The operations view of every shard at `now`: each shard's in one round trip, all at once, added up (counts summed, lag
 * the worst, lists merged and cut to their limit), with each shard's own figures under `shards`. The cron jobs' record
 * is shard 0's (a run works in every shard).
 */
export async function readOperationsOfShards(services: ShardScoped, now: number, maxLagMs: number) {
  const views = await Promise.all(allShards(services).map(({ db }) => readOperations(db, now, maxLagMs)));
  const [first] = views as [ShardOperations, ...ShardOperations[]];
  const sum = (pick: (v: ShardOperations) => number) => views.reduce((n, v) => n + pick(v), 0);
  const capped = (pick: (v: ShardOperations) => number) => Math.min(OPERATIONS_COUNT_LIMIT, sum(pick));
  const worst = views.reduce((a, b) => (b.delivery.lag_seconds > a.delivery.lag_seconds ? b : a));
  const waiting = views
    .map((v) => v.queue.oldest_waiting_probe_at)
    .filter((t): t is string => t !== null)
    .sort()[0];
  const watermarks = views.map((v) => v.queue.watermark).filter((t): t is string => t !== null);
  return {
    ...first,
    delivery: {
      ...worst.delivery,
      lagging: views.some((v) => v.delivery.lagging),
      pending: capped((v) => v.delivery.pending),
      retrying: capped((v) => v.delivery.retrying),
    },
    queue: {
      // Each shard's watermark moves with the batches that reach it: the queue has come at least as far as the latest.
      watermark: watermarks.length === views.length ? watermarks.sort()[0]! : null,
      oldest_waiting_probe_at: waiting ?? null,
      lag_seconds: Math.max(...views.map((v) => v.queue.lag_seconds)),
      lagging: views.some((v) => v.queue.lagging),
    },
    recoveries: {
      open: capped((v) => v.recoveries.open),
      items: views
        .flatMap((v) => v.recoveries.items)
        .sort((a, b) => a.requested_at.localeCompare(b.requested_at))
        .slice(0, OPERATIONS_LIST_LIMIT),
    },
    last_hour: {
      ...first.last_hour,
      attempts: sum((v) => v.last_hour.attempts),
      successes: sum((v) => v.last_hour.successes),
      deliveries_succeeded: sum((v) => v.last_hour.deliveries_succeeded),
      deliveries_failed: sum((v) => v.last_hour.deliveries_failed),
      failures_by_class: Object.fromEntries(
        FAILURE_FAMILIES.map((family) => [family, sum((v) => v.last_hour.failures_by_class[family])]),
      ) as Record<FailureFamily, number>,
    },
    webhooks: {
      failing: capped((v) => v.webhooks.failing),
      auto_disabled: capped((v) => v.webhooks.auto_disabled),
      items: views
        .flatMap((v) => v.webhooks.items)
        .sort((a, b) => b.failure_count - a.failure_count)
        .slice(0, OPERATIONS_LIST_LIMIT),
    },
    shards: views.map((v, shard) => ({
      shard,
      lag_seconds: v.delivery.lag_seconds,
      pending: v.delivery.pending,
      retrying: v.delivery.retrying,
      queue_watermark: v.queue.watermark,
      queue_lag_seconds: v.queue.lag_seconds,
      open_recoveries: v.recoveries.open,
      failing_webhooks: v.webhooks.failing,
      last_hour_attempts: v.last_hour.attempts,
    })),
  };
}
