// Endpoint health (outpost's internal/alert): consecutive failed deliveries, the warnings on the way to the threshold
// (webhook.failing at 50, 70 and 90 %, webhook.recovered once a warned streak ends), the auto-disable at the threshold
// and its webhook.auto_disabled announcement, whether the receiver is slow (its lane), and where an ordered webhook's
// line stands, as statements that ride in the batch recording the attempts.
import { and, eq, type SQL, sql } from "drizzle-orm";
import type { Database } from "../../db/client";
import { storedPayload } from "../../db/payload";
import {
  type AutoDisableReason,
  type DeliveryStatus,
  type WebhookEndpointRow,
  webhookEndpoints,
} from "../../db/schema";
import { canonicalJson } from "../../lib/canonical-json";
import { derivedId } from "../../lib/ids";
import { type AnnouncedState, completeEnvelope, type DeliveryRef, eventStatements, toDeliveryRefs } from "../publish";
import { type ClaimedAttempt, toStatement } from "./claim";
import { orderedAfterAttempt } from "./ordered";

/** One attempt of the group being recorded, as endpoint health sees it. */
export interface HealthInput {
  claim: ClaimedAttempt;
  status: DeliveryStatus;
  /** The receiver answered 410 Gone: the endpoint is disabled at once (status is then `failed`). */
  gone: boolean;
  /** When the attempt finished. */
  now: number;
  /** The attempt timed out: the webhook is slow until an attempt ends any other way (lanes.ts). */
  timedOut: boolean;
}

export interface HealthStatements {
  statements: D1PreparedStatement[];
  /** Per input: its announcement, if it may make one, and the index in `statements` of the event's insert; or null. */
  announcementAt: ({ type: AnnouncementType; at: number } | null)[];
}

/**
 * Whether an attempt is still unrecorded (SQL over expressions naming the webhook, the delivery and the attempt): it is
 * its delivery's latest claim, and the lease it set is still there (recording clears it). Every statement that
 * records something about an attempt runs only while this holds and before the delivery's own update, in one batch,
 * so a batch that runs twice counts nothing twice. (endpointUpdate below says the same with bound parameters.)
 */
export const unrecorded = (webhookId: string, deliveryId: string, attemptNumber: string) =>
  `EXISTS (SELECT 1 FROM deliveries_live d WHERE d.webhook_id = ${webhookId} AND d.id = ${deliveryId}
    AND d.attempt_count = ${attemptNumber} AND d.lease_until IS NOT NULL)`;

const orderedSet = ({ orderedFrom, reopenedFrom }: { orderedFrom: string; reopenedFrom: string }) =>
  `ordered_from = ${orderedFrom}, ordered_reopened_from = ${reopenedFrom}`;

// Endpoint health after successes and non-final failures, for many endpoints in one statement: these commute (a success
// resets the count, a retried failure does not touch it), so only the latest time of each matters. Runs only while the
// group's attempts are unrecorded (they are recorded together, so one of them stands for all), like endpointUpdate.
// An ordered webhook's line moves past the delivery that succeeded (`finished_id`: ordered.ts).
const UPDATE_ENDPOINT_HEALTH = `UPDATE webhook_endpoints SET
    failure_count = CASE WHEN u.value ->> 'success_at' IS NULL THEN failure_count ELSE 0 END,
    last_success_at = COALESCE(u.value ->> 'success_at', last_success_at),
    last_failure_at = COALESCE(u.value ->> 'failure_at', last_failure_at),
    slow_since = CASE WHEN u.value ->> 'slow' THEN COALESCE(slow_since, u.value ->> 'latest_at') ELSE NULL END,
    ${orderedSet(orderedAfterAttempt("u.value ->> 'finished_id'"))}
  FROM json_each(?1) AS u
  WHERE webhook_endpoints.id = u.value ->> 'webhook_id'
    AND ${unrecorded("u.value ->> 'webhook_id'", "u.value ->> 'delivery_id'", "u.value ->> 'attempt_number'")}`;

/** The failure warnings, in percent of FAILURE_THRESHOLD, each announced once per streak (webhook.failing). */
export const FAILURE_WARNING_PERCENTS = [50, 70, 90] as const;

/** The warning a streak of `failures` failed deliveries has reached: the highest of FAILURE_WARNING_PERCENTS, or 0. */
export function warningPercent(failures: number, threshold: number): number {
  if (failures >= threshold) return 0; // disabled: webhook.auto_disabled says so
  return FAILURE_WARNING_PERCENTS.findLast((p) => failures >= Math.ceil((threshold * p) / 100)) ?? 0;
}

/** An endpoint's failure streak as the claim read it, moved on by the group's attempts in order. */
interface Streak {
  failures: number;
  warnedPercent: number;
}

type AnnouncementType = "webhook.auto_disabled" | "webhook.failing" | "webhook.recovered";
/** An announcement an attempt may bring about, with what its endpoint update checks. */
type Announcement =
  | { type: "webhook.auto_disabled"; reason: AutoDisableReason }
  | { type: "webhook.failing"; failures: number; percent: number }
  | { type: "webhook.recovered" };

/**
 * The endpoint-health statements of a group of attempts, to run before the group's attempt rows are inserted (each
 * update runs only while its attempt is unrecorded). An endpoint with a final failure in the group, or a success while
 * its claim saw a warned streak, gets one update per attempt, in order, so consecutive failures, resets and
 * announcements add up as they happened; the others share one statement.
 */
export async function endpointHealthStatements(
  db: Database,
  attempts: readonly HealthInput[],
  threshold: number,
): Promise<HealthStatements> {
  const d1 = db.$client;
  const statements: D1PreparedStatement[] = [];
  const announcementAt: HealthStatements["announcementAt"] = attempts.map(() => null);
  const inSequence = new Set(
    attempts
      .filter((p) => p.status === "failed" || (p.status === "success" && p.claim.endpoint.failureWarningPercent > 0))
      .map((p) => p.claim.endpoint.id),
  );
  const health = new Map<
    string,
    {
      webhook_id: string;
      delivery_id: number;
      attempt_number: number;
      success_at: number | null;
      failure_at: number | null;
      latest_at: number;
      slow: boolean;
      finished_id: number | null;
    }
  >();
  for (const p of attempts) {
    const id = p.claim.endpoint.id;
    if (inSequence.has(id)) continue;
    const h = health.get(id) ?? {
      webhook_id: id,
      delivery_id: p.claim.deliveryId,
      attempt_number: p.claim.attemptNumber,
      success_at: null,
      failure_at: null,
      latest_at: p.now,
      slow: p.timedOut,
      finished_id: null,
    };
    if (p.status === "success") {
      h.success_at = Math.max(h.success_at ?? 0, p.now);
      h.finished_id = Math.max(h.finished_id ?? 0, p.claim.deliveryId);
    } else h.failure_at = Math.max(h.failure_at ?? 0, p.now);
    if (p.now >= h.latest_at) Object.assign(h, { latest_at: p.now, slow: p.timedOut });
    health.set(id, h);
  }
  if (health.size > 0) statements.push(d1.prepare(UPDATE_ENDPOINT_HEALTH).bind(JSON.stringify([...health.values()])));
  const streaks = new Map<string, Streak>();
  for (const [i, p] of attempts.entries()) {
    const endpoint = p.claim.endpoint;
    if (!inSequence.has(endpoint.id)) continue;
    let streak = streaks.get(endpoint.id);
    if (!streak)
      streaks.set(
        endpoint.id,
        (streak = { failures: endpoint.failureCount, warnedPercent: endpoint.failureWarningPercent }),
      );
    const announcement = nextAnnouncement(p, streak, threshold);
    statements.push(toStatement(d1, endpointUpdate(db, p, threshold, announcement)));
    // The announcement rides in the same transaction, stored only if this batch brought the endpoint to the state it
    // announces, under an id derived from the endpoint, the type and that instant, so it exists once or not at all.
    if (announcement) {
      const envelope = await announcementEnvelope(endpoint, announcement, threshold, p.now);
      statements.push(
        ...eventStatements(d1, envelope, await storedPayload(canonicalJson(envelope)), p.now, {
          ifAnnounced: announcedState(endpoint.id, announcement),
        }),
      );
      announcementAt[i] = { type: announcement.type, at: statements.length - 2 }; // the event's insert (its deliveries follow it)
    }
  }
  return { statements, announcementAt };
}

/**
 * What attempt `p` may announce, given its endpoint's streak (which `p` moves on): a final failure that reaches the
 * threshold or is a 410 (the update says whether it disabled), one whose streak reaches a new warning, or the success
 * that ends a warned streak. The streak comes from the claim's read of the endpoint; each update checks it.
 */
function nextAnnouncement(p: HealthInput, streak: Streak, threshold: number): Announcement | null {
  if (p.status === "success") {
    const recovers = streak.warnedPercent > 0;
    Object.assign(streak, { failures: 0, warnedPercent: 0 });
    return recovers ? { type: "webhook.recovered" } : null;
  }
  if (p.status !== "failed") return null;
  streak.failures++;
  if (p.gone || streak.failures >= threshold)
    return { type: "webhook.auto_disabled", reason: p.gone ? "gone" : "consecutive_failures" };
  const percent = warningPercent(streak.failures, threshold);
  if (percent <= streak.warnedPercent) return null;
  streak.warnedPercent = percent;
  return { type: "webhook.failing", failures: streak.failures, percent };
}

const announcedState = (webhookId: string, a: Announcement): AnnouncedState =>
  a.type === "webhook.auto_disabled"
    ? { webhookId, state: "auto_disabled", value: a.reason }
    : { webhookId, state: "failure_warning", value: a.type === "webhook.failing" ? a.percent : 0 };

/**
 * From the batch's results: whether the announcement at `at` was stored (this batch brought its endpoint to the state
 * it announces), whether that was the auto-disable, and its deliveries.
 */
export function announcementOf(
  results: readonly D1Result[],
  announcement: HealthStatements["announcementAt"][number],
): { autoDisabled: boolean; announcementDeliveries: DeliveryRef[] } {
  const stored = announcement !== null && (results[announcement.at]?.meta.changes ?? 0) > 0;
  const announcementDeliveries = stored
    ? toDeliveryRefs((results[announcement.at + 1]?.results ?? []) as { webhook_id: string; id: number }[])
    : [];
  return { autoDisabled: stored && announcement.type === "webhook.auto_disabled", announcementDeliveries };
}

/**
 * An endpoint's counters after one attempt. Runs only while that attempt is unrecorded (its row is inserted later in
 * the same batch), so a retried batch never counts a failure twice. A warning is marked (its percent and time, which
 * its announcement checks) only if the streak is the one expected; the end of a warned streak only if one was.
 */
function endpointUpdate(
  db: Database,
  { claim, status, gone, now, timedOut }: HealthInput,
  threshold: number,
  announcement: Announcement | null,
) {
  const w = webhookEndpoints;
  // Consecutive failed deliveries disable at the threshold, a 410 at once; the endpoint stays off until PATCHed back on.
  const disables = gone ? sql`1` : sql`${w.failureCount} + 1 >= ${threshold}`;
  const disablesNow = sql`${w.enabled} = 1 AND ${disables}`;
  const reason: AutoDisableReason = gone ? "gone" : "consecutive_failures";
  const slowSince = timedOut ? sql`COALESCE(${w.slowSince}, ${now})` : null;
  const ordered = orderedAfterAttempt(status === "retrying" ? "NULL" : String(claim.deliveryId));
  const marks = (condition: SQL, percent: number) => ({
    failureWarningPercent: sql`CASE WHEN ${condition} THEN ${percent} ELSE ${w.failureWarningPercent} END`,
    failureWarnedAt: sql`CASE WHEN ${condition} THEN ${now} ELSE ${w.failureWarnedAt} END`,
  });
  const change =
    status === "success"
      ? {
          failureCount: 0,
          lastSuccessAt: now,
          slowSince,
          ...(announcement?.type === "webhook.recovered" && marks(sql`${w.failureWarningPercent} > 0`, 0)),
        }
      : status === "failed"
        ? {
            failureCount: sql`${w.failureCount} + 1`,
            lastFailureAt: now,
            enabled: sql`CASE WHEN ${disables} THEN 0 ELSE ${w.enabled} END`,
            disabledAt: sql`CASE WHEN ${disablesNow} THEN ${now} ELSE ${w.disabledAt} END`,
            disabledReason: sql`CASE WHEN ${disablesNow} THEN ${reason} ELSE ${w.disabledReason} END`,
            missedEvents: sql`CASE WHEN ${disablesNow} THEN 0 ELSE ${w.missedEvents} END`,
            slowSince,
            ...(announcement?.type === "webhook.failing" &&
              marks(
                sql`${w.failureCount} + 1 = ${announcement.failures} AND ${w.failureWarningPercent} < ${announcement.percent}`,
                announcement.percent,
              )),
          }
        : { lastFailureAt: now, slowSince };
  return db
    .update(w)
    .set({ ...change, orderedFrom: sql.raw(ordered.orderedFrom), orderedReopenedFrom: sql.raw(ordered.reopenedFrom) })
    .where(
      and(
        eq(w.id, claim.endpoint.id),
        sql`EXISTS (SELECT 1 FROM deliveries_live d WHERE d.webhook_id = ${claim.endpoint.id}
          AND d.id = ${claim.deliveryId} AND d.attempt_count = ${claim.attemptNumber} AND d.lease_until IS NOT NULL)`,
      ),
    );
}

/**
 * Marks webhooks slow at `now` (unless they already are): their sends held every send slot of a batch, so their next
 * deliveries take the slow lane without waiting for a timeout to be recorded.
 */
export function markSlowStatement(db: Database, webhookIds: readonly string[], now: number): D1PreparedStatement {
  return db.$client
    .prepare(
      "UPDATE webhook_endpoints SET slow_since = ?2 WHERE id IN (SELECT value FROM json_each(?1)) AND slow_since IS NULL",
    )
    .bind(JSON.stringify([...new Set(webhookIds)]), now);
}

/**
 * An announcement about an endpoint at `now`: its event_id is derived from the endpoint, the type and that instant (and
 * a warning's level), so two attempts recorded in the same millisecond cannot announce one thing twice.
 */
async function announcementEnvelope(
  endpoint: Pick<WebhookEndpointRow, "id" | "tenantId" | "partnerId">,
  announcement: Announcement,
  threshold: number,
  now: number,
) {
  // Never the URL: it can carry secrets (a token in the query), and this reaches every other subscriber of the tenant.
  const data =
    announcement.type === "webhook.auto_disabled"
      ? announcement.reason === "gone"
        ? { webhook_id: endpoint.id, reason: announcement.reason, status_code: 410 }
        : { webhook_id: endpoint.id, reason: announcement.reason, threshold }
      : announcement.type === "webhook.failing"
        ? {
            webhook_id: endpoint.id,
            consecutive_failures: announcement.failures,
            threshold,
            percent: announcement.percent,
          }
        : { webhook_id: endpoint.id };
  return completeEnvelope(
    {
      // A warning names its level too: one batch may reach two of them in the same millisecond.
      event_id: await derivedId(
        "evt_",
        `${announcement.type}:${endpoint.id}:${now}${announcement.type === "webhook.failing" ? `:${announcement.percent}` : ""}`,
      ),
      event_type: announcement.type,
      tenant_id: endpoint.tenantId,
      partner_id: endpoint.partnerId,
      resource: { type: "webhook", id: endpoint.id },
      actor: { id: null, type: "system" },
      data,
    },
    now,
  );
}
