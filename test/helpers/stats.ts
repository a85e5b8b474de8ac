// Reading the stats rollup's state, for tests (the Worker itself reads the cursor inside its statements).
import type { Database } from "../../src/db/client";
import type { WebhookEndpointRow } from "../../src/db/schema";
import { CURSOR_VALUE } from "../../src/domain/stats/aggregate";
import { readEndpointStats, type StatsWindow, toPublicStats } from "../../src/domain/stats/read-model";

/** The `stats` cursor: the id of the last delivery attempt rolled up (0 before the first rollup). */
export async function readStatsCursor(db: Database): Promise<number> {
  const row = await db.$client.prepare(`SELECT ${CURSOR_VALUE} AS cursor`).first<{ cursor: number }>();
  return row?.cursor ?? 0;
}

/** What GET …/stats answers for `endpoint`, without the HTTP round trip. */
export async function endpointStats(db: Database, endpoint: WebhookEndpointRow, window: StatsWindow, now: number) {
  return toPublicStats(endpoint, await readEndpointStats(db, endpoint.id, window, now));
}
