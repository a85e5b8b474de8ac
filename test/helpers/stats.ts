import {
  deliveryTable,
  ensureCurrentPartitions,
  firstDeliveryIdAt,
  hourOf,
  partitionName,
  refreshPartitions,
} from "../../src/db/partitions";
import type { ErrorClass } from "../../src/db/schema";
import { claimDeliveries } from "../../src/domain/delivery/claim";
import { recordAttempts } from "../../src/domain/delivery/record";
import type { SentAttempt } from "../../src/domain/delivery/send";
import type { DeliveryRef } from "../../src/domain/publish";
import type { Config } from "../../src/lib/config";
import { updateDeliveries, webhookDeps } from "./deliveries";
import { d1OfWebhook } from "./shards";

/** One attempt: when it started (ms), how long it took, and how it ended (a failure without a class is "other"). */
export interface AttemptSpec {
  at: number;
  ms: number;
  ok?: boolean;
  cls?: ErrorClass | null;
  code?: number | null;
}

/** A delivery of the test's webhook: when it was created, and the attempts to record for it, in order. */
export interface DeliverySpec {
  createdAt: number;
  attempts: AttemptSpec[];
}

/**
 * Stores the deliveries (pending, with their events) in the table that holds each one's hour, then records their
 * attempts round by round through claimDeliveries and recordAttempts, each round one group, as the consumer does. Every
 * attempt is recorded now (the stats count it in the hour it started). Endpoint health cannot disable the webhook
 * meanwhile (the threshold is out of reach). Answers the deliveries, in the order given.
 */
export async function recordHistory(
  webhookId: string,
  tenant: string,
  deliveries: readonly DeliverySpec[],
  opts: { now?: number; config?: Partial<Config> } = {},
): Promise<DeliveryRef[]> {
  const now = opts.now ?? Date.now();
  const d1 = d1OfWebhook(webhookId);
  await ensureCurrentPartitions(d1, now);
  const live = await refreshPartitions(d1); // as the record will see them
  const used = new Set<number>();
  const refs = deliveries.map((d) => {
    let id = firstDeliveryIdAt(d.createdAt);
    while (used.has(id)) id++; // two deliveries of one webhook in one ms
    used.add(id);
    return { webhookId, id };
  });
  const statements = deliveries.flatMap((d, i) => {
    const ref = refs[i]!;
    const table = deliveryTable(live, ref.id);
    const events = table === "deliveries" ? "events" : partitionName("events", hourOf(d.createdAt));
    const eventId = `evt_hist_${webhookId.slice(3, 11)}_${ref.id}`;
    return [
      d1
        .prepare(
          `INSERT INTO "${events}" (owner_key, event_id, event_type, tenant_id, partner_id, payload, created_at)
         VALUES (?1, ?2, 'user.created', ?3, NULL, '{}', ?4)`,
        )
        .bind(`t:${tenant}`, eventId, tenant, d.createdAt),
      d1
        .prepare(
          `INSERT INTO "${table}" (webhook_id, id, event_owner, event_id, event_hour, event_type, status, attempt_count,
           due_at, in_queue, attempts, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, 'user.created', 'pending', 0, 0, 0, '[]', ?6, ?6)`,
        )
        .bind(webhookId, ref.id, `t:${tenant}`, eventId, hourOf(d.createdAt), d.createdAt),
    ];
  });
  for (let i = 0; i < statements.length; i += 200) await d1.batch(statements.slice(i, i + 200));

  const deps = webhookDeps(webhookId, { now }, { failureThreshold: 1_000_000, ...opts.config });
  const rounds = Math.max(0, ...deliveries.map((d) => d.attempts.length));
  for (let k = 0; k < rounds; k++) {
    const due = deliveries.flatMap((d, i) => (d.attempts[k] ? [{ ref: refs[i]!, attempt: d.attempts[k]! }] : []));
    await updateDeliveries(
      due.map((d) => d.ref),
      { due_at: 0 },
    );
    const { claimed } = await claimDeliveries(
      deps,
      due.map((d) => d.ref),
      { sendWaves: due.length },
    );
    if (claimed.length !== due.length) throw new Error(`round ${k + 1}: ${claimed.length} of ${due.length} claimed`);
    const byKey = new Map(claimed.map((c) => [`${c.endpoint.id}\n${c.deliveryId}`, c]));
    const sent: SentAttempt[] = due.map(({ ref, attempt }) => ({
      claim: byKey.get(`${ref.webhookId}\n${ref.id}`)!,
      result: {
        ok: attempt.ok ?? false,
        statusCode: attempt.code ?? (attempt.ok ? 200 : null),
        durationMs: attempt.ms,
        errorClass: attempt.ok ? null : (attempt.cls ?? null),
        errorMessage: attempt.ok ? null : "failed",
        responseExcerpt: null,
        retryAfterSeconds: null,
      },
      startedAt: attempt.at,
      finishedAt: now,
    }));
    await recordAttempts(deps, sent);
  }
  return refs;
}

/** A webhook's rows of webhook_stats_hourly or webhook_stats_daily, oldest first, histograms parsed. */
export async function statsRows(webhookId: string, table: "webhook_stats_hourly" | "webhook_stats_daily") {
  const column = table === "webhook_stats_hourly" ? "hour_start" : "day_start";
  const { results } = await d1OfWebhook(webhookId)
    .prepare(`SELECT * FROM ${table} WHERE webhook_id = ? ORDER BY ${column}`)
    .bind(webhookId)
    .all<Record<string, any>>();
  return results.map(
    (r): Record<string, any> => ({ ...r, latency_histogram: JSON.parse(r.latency_histogram) as number[] }),
  );
}
