// The capacity model: the bytes one D1 database holds at a steady rate of R deliveries a day, from the bytes per unit
// the storage run measured, and the R whose 30 days fit in USABLE_SHARE of D1's limit.
//
//   hot (D1 holds peak_hours of deliveries and their events):  R/24 × peak_hours × (delivery + event / fan-out) × the
//                                                               partitions' overhead in the file (free pages)
//   webhooks: busy ones get busy_deliveries_per_webhook_day, sparse ones one an hour; each has an archive_days row a
//             day (and so has its owner's events, one owner per fan-out webhooks), hourly stats rows for 26 h and daily
//             ones for 35 days, and its own row;
//   archive_hours: a row per kind and hour, its chunks (2,000 lines each) listed in it.

/** Cloudflare's D1 limit per database, in bytes (10 GB, decimal). */
export const D1_LIMIT_BYTES = 10e9;
/** Headroom: the history must fit in this share of the limit. */
export const USABLE_SHARE = 0.7;
const CHUNK_LINES = 2000;

/** Bytes held at `perDay` deliveries a day, by part. */
export function bytesAt(units, mix, perDay) {
  const f = mix.fanOut;
  const busyWebhooks = (mix.busy_share * perDay) / mix.busy_deliveries_per_webhook_day;
  const sparseWebhooks = (mix.sparse_share * perDay) / mix.sparse_deliveries_per_webhook_day;
  const webhooks = busyWebhooks + sparseWebhooks;
  const d = units.archive_days_row_bytes;
  const h = units.archive_hours_row;
  const hourRow = (lines) =>
    (h.key_bytes + 2 + Math.ceil(lines / CHUNK_LINES) * h.entry_bytes) * h.table_bytes_per_payload_byte +
    h.index_bytes_per_row;
  const hotDeliveries = (perDay / 24) * mix.peak_hours_in_d1;
  return {
    hot_deliveries: hotDeliveries * units.hot_delivery_bytes * units.hot_overhead_factor,
    hot_events: (hotDeliveries / f) * units.hot_event_bytes * units.hot_overhead_factor,
    archive_days:
      mix.retention_days *
      (busyWebhooks * d.busy_webhook_day +
        (busyWebhooks / f) * d.busy_owner_day +
        sparseWebhooks * d.sparse_webhook_day +
        (sparseWebhooks / f) * d.sparse_owner_day),
    archive_hours: mix.retention_days * 24 * (hourRow(perDay / 24) + hourRow(perDay / f / 24)),
    stats_hourly: mix.stats_hourly_kept_hours * webhooks * units.stats_hourly_row_bytes,
    stats_daily: mix.stats_daily_kept_days * webhooks * units.stats_daily_row_bytes,
    webhooks: webhooks * units.webhook_bytes,
  };
}

const total = (parts) => Object.values(parts).reduce((a, b) => a + b, 0);

/** The deliveries a day whose whole retention fits in USABLE_SHARE of the limit (to the thousand), and its bytes. */
export function capacityPerDay(units, mix) {
  const budget = USABLE_SHARE * D1_LIMIT_BYTES;
  let lo = 0;
  let hi = 1e9;
  while (hi - lo > 1000) {
    const mid = (lo + hi) / 2;
    if (total(bytesAt(units, mix, mid)) <= budget) lo = mid;
    else hi = mid;
  }
  const perDay = Math.floor(lo / 1000) * 1000;
  const parts = bytesAt(units, mix, perDay);
  return {
    deliveries_per_day: perDay,
    bytes_at_capacity: Math.round(total(parts)),
    by_part_gb: Object.fromEntries(Object.entries(parts).map(([k, v]) => [k, Number((v / 1e9).toFixed(3))])),
    webhooks_at_capacity: Math.round(
      (mix.busy_share * perDay) / mix.busy_deliveries_per_webhook_day +
        (mix.sparse_share * perDay) / mix.sparse_deliveries_per_webhook_day,
    ),
  };
}
