// Ordered delivery (webhook_endpoints.ordered): a webhook's deliveries one at a time, in publish (id) order
// (docs/architecture.md#flow-control). The line is the webhook's open deliveries in id order; the claim takes only its
// head, the lowest, so the database itself decides, whatever duplicates, consumers or sweeps ask at once.
//
// `ordered_from` bounds the search: every delivery of the webhook with a lower id has finished, so looking for an open
// delivery before another reads the line (through the primary key, webhook_id and id), never the webhook's history.
// It moves up as the head finishes; a retry in place of an earlier delivery moves it down again (reopenStatement).
import { tablesOf, withPartitions } from "../../db/partitions";
import type { DeliveryRef } from "../publish";

/** The highest id SQLite's integers and JavaScript's numbers share: "no reopened delivery" in min(). */
const NO_ID = Number.MAX_SAFE_INTEGER;

/** SQL: whether an open delivery of webhook `webhookId` lies in [from, before) (ids; expressions). */
const openBetween = (webhookId: string, from: string, before: string) =>
  `EXISTS (SELECT 1 FROM deliveries_live o WHERE o.webhook_id = ${webhookId} AND o.id >= ${from} AND o.id < ${before}
    AND o.completed_at IS NULL)`;

/**
 * SQL: whether delivery `d` (a table or alias with webhook_id and id) of webhook row `w` waits in its line: the webhook
 * is ordered and the delivery is not the head (an earlier one is open, or it was retried in place while the head was
 * in flight). The claim takes no such delivery; the sweep enqueues none.
 */
export const waitsInLine = (w: string, d: string) =>
  `CASE WHEN ${w}.ordered THEN ${d}.id < ${w}.ordered_from
    OR ${openBetween(`${d}.webhook_id`, `${w}.ordered_from`, `${d}.id`)} ELSE 0 END`;

/** SQL: the head of ordered webhook row `w`'s line (its lowest open delivery from ordered_from on), or null. */
const headOf = (w: string) => `(SELECT o.id FROM deliveries_live o WHERE o.webhook_id = ${w}.id
  AND o.id >= ${w}.ordered_from AND o.completed_at IS NULL ORDER BY o.id LIMIT 1)`;

/**
 * SQL for the endpoint-health updates of the batch recording an attempt of webhook `webhook_endpoints` (its only one
 * in flight, if ordered): the new `ordered_from` and `ordered_reopened_from`. `finishedId` (an expression, NULL when
 * the attempt leaves its delivery open) moves the line past the delivery that just ended, unless an earlier one is
 * still open (a delivery in flight when ordering was turned on); a delivery retried in place meanwhile joins the line.
 * They run before the delivery's own update, while it is still open. Unordered webhooks keep what they have.
 */
export const orderedAfterAttempt = (finishedId: string) => {
  const passed = `CASE WHEN ${finishedId} IS NOT NULL
      AND NOT ${openBetween("webhook_endpoints.id", "webhook_endpoints.ordered_from", finishedId)}
    THEN max(ordered_from, ${finishedId} + 1) ELSE ordered_from END`;
  return {
    orderedFrom: `CASE WHEN ordered THEN min(${passed}, ifnull(ordered_reopened_from, ${NO_ID})) ELSE ordered_from END`,
    reopenedFrom: "NULL",
  };
};

// ?1 the webhook, ?2 the lowest id retried, ?3 now. The head is in flight when the line's lowest open delivery from
// ordered_from on holds a lease (the claim leases nothing else of an ordered webhook).
const HEAD_IN_FLIGHT = `ifnull((SELECT o.lease_until FROM deliveries_live o WHERE o.webhook_id = ?1
    AND o.id >= webhook_endpoints.ordered_from AND o.completed_at IS NULL ORDER BY o.id LIMIT 1), 0) > ?3`;
const REOPEN = `UPDATE webhook_endpoints SET
    ordered_from = CASE WHEN ?2 < ordered_from AND ${HEAD_IN_FLIGHT} THEN ordered_from ELSE min(ordered_from, ?2) END,
    ordered_reopened_from = CASE WHEN ?2 < ordered_from AND ${HEAD_IN_FLIGHT}
      THEN min(ifnull(ordered_reopened_from, ?2), ?2) ELSE ordered_reopened_from END
  WHERE id = ?1 AND ordered = 1`;

/**
 * The statement that lets deliveries of ordered webhook `webhookId` retried in place (reopened: failed or cancelled,
 * pending again, the lowest `lowestId`) back into its line, at their own place: before every later delivery still
 * open. If the head is in flight they wait for its attempt to be recorded (never two at once). To run in the batch
 * that reopens them, before it. Does nothing to an unordered webhook.
 */
export const reopenStatement = (d1: D1Database, webhookId: string, lowestId: number, now: number) =>
  d1.prepare(REOPEN).bind(webhookId, lowestId, now);

/** The head of each of the ordered webhooks among `webhookIds` whose line is not empty. */
export const headsStatement = (d1: D1Database, webhookIds: readonly string[]) =>
  d1
    .prepare(
      `SELECT w.id AS webhook_id, ${headOf("w")} AS id FROM webhook_endpoints w
       WHERE w.id IN (SELECT value FROM json_each(?1)) AND w.ordered = 1`,
    )
    .bind(JSON.stringify([...new Set(webhookIds)]));

/** The heads a headsStatement found. */
export const headsOf = (rows: readonly { webhook_id: string; id: number | null }[]): DeliveryRef[] =>
  rows.filter((r) => r.id !== null).map((r) => ({ webhookId: r.webhook_id, id: r.id! }));

/** The head of each ordered webhook among `webhookIds` (one query). */
export async function orderedHeads(d1: D1Database, webhookIds: readonly string[]): Promise<Map<string, number>> {
  if (webhookIds.length === 0) return new Map();
  const { results } = await headsStatement(d1, webhookIds).all<{ webhook_id: string; id: number | null }>();
  return new Map(headsOf(results).map((r) => [r.webhookId, r.id]));
}

/**
 * Ordering turned off: the deliveries that waited in the line had their messages acknowledged, so they are handed to
 * the sweep (no message expected), which enqueues them on its next run. One statement per table, through the primary
 * key from `orderedFrom`; the line's rows are written once, at this switch.
 */
export async function releaseLine(d1: D1Database, webhookId: string, orderedFrom: number): Promise<void> {
  await withPartitions(d1, (live) =>
    d1.batch(
      tablesOf("deliveries", live.hours).map((table) =>
        d1
          .prepare(
            `UPDATE "${table}" SET in_queue = 0 WHERE webhook_id = ?1 AND id >= ?2 AND completed_at IS NULL
               AND lease_until IS NULL AND in_queue = 1`,
          )
          .bind(webhookId, orderedFrom),
      ),
    ),
  );
}
