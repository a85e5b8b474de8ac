// The stats screens read the stats endpoint's own read model: the same rows, the same public shape.
import type { WebhookEndpointRow } from "../db/schema";
import { readEndpointStats, type StatsWindow, toPublicStats } from "../domain/stats/read-model";

export type EndpointStats = ReturnType<typeof toPublicStats>;

export async function endpointStats(
  services: Parameters<typeof readEndpointStats>[0],
  webhook: WebhookEndpointRow,
  window: StatsWindow,
  now: number,
): Promise<EndpointStats> {
  return toPublicStats(webhook, await readEndpointStats(services, webhook.id, window, now));
}
