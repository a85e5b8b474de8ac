// The stats screens read the stats endpoint's own read model: the same rows, the same public shape.
import type { Database } from "../db/client";
import type { WebhookEndpointRow } from "../db/schema";
import { readEndpointStats, type StatsWindow, toPublicStats } from "../domain/stats/read-model";

export type EndpointStats = ReturnType<typeof toPublicStats>;

export async function endpointStats(
  db: Database,
  webhook: WebhookEndpointRow,
  window: StatsWindow,
  now: number,
): Promise<EndpointStats> {
  return toPublicStats(webhook, await readEndpointStats(db, webhook.id, window, now));
}
