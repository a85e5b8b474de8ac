// Cloudflare's public list prices (Workers Paid plan, USD), the one place the benches take them from. Marginal prices:
// what one more unit costs past the monthly allowances the $5 plan includes (noted beside each, not deducted).
// Checked 2026-11-30 against the pages named in `source`; update the date and the figures together.
export const PRICES_CHECKED_ON = "2026-11-30";

export const PRICES = {
  d1: {
    source: "https://developers.cloudflare.com/d1/platform/pricing/",
    rows_written_per_million: 1.0, // 50 million a month included
    rows_read_per_million: 0.001, // 25 billion a month included
    storage_gb_month: 0.75, // 5 GB included
  },
  queues: {
    source: "https://developers.cloudflare.com/queues/platform/pricing/",
    // One operation per 64 KB written, read or deleted: a message delivered once is 3; each retry of a message read
    // again is 1 more (this service sends a retry as a new delayed message: 3 more).
    operations_per_million: 0.4, // 1 million a month included
  },
  r2: {
    source: "https://developers.cloudflare.com/r2/pricing/",
    class_a_per_million: 4.5, // put, list, multipart; 1 million a month included
    class_b_per_million: 0.36, // get, head; 10 million a month included
    storage_gb_month: 0.015, // 10 GB-month included; deletes are free
  },
  workers: {
    source: "https://developers.cloudflare.com/workers/platform/pricing/",
    // Every invocation is a request: fetch, each queue consumer batch, each cron run.
    requests_per_million: 0.3, // 10 million a month included
    cpu_ms_per_million: 0.02, // 30 million CPU ms a month included
  },
};

/** Days in an average month, for per-GB-month storage. */
export const DAYS_PER_MONTH = 30.44;
