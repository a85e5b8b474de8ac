// The fault run's report: what was injected, what the crons did, and the books of every delivery.

/** Prints the report with `say`. */
export function printReport(
  say,
  {
    placed,
    kills,
    seed,
    eventCount,
    run,
    tally,
    client,
    counts,
    isolation,
    ordered,
    deliveries,
    requests,
    endpoints,
    expected,
    statsNote,
    violations,
    workDir,
    keep,
  },
) {
  const byBehaviour = {};
  for (const d of deliveries) {
    const e = endpoints.find((x) => x.id === d.webhook_id);
    const b = (byBehaviour[e.behaviour] ??= { deliveries: 0, success: 0, failed: 0, attempts: 0 });
    b.deliveries++;
    if (d.status === "success") b.success++;
    if (d.status === "failed") b.failed++;
    b.attempts += d.attempts.length;
  }
  const twoXX = requests.filter((r) => r.sent2xx).length;
  const lost = counts.lost + counts.not_settled;
  const ops = Object.entries(tally.d1ErrorsByOp)
    .map(([k, v]) => `${k} ${v}`)
    .join(", ");
  const { cronRuns } = client;
  say("");
  say(`== ScaiKey webhooks, fault injection: seed ${seed} ==`);
  say(
    `  faults      ${tally.d1Errors} D1 errors injected (${ops || "none"}), ${tally.duplicates} duplicate queue messages`,
  );
  say(
    `              ${tally.processingFailed} messages retried by the queue, ${tally.recordRetries} attempt records retried, ${tally.deadLettered} dead-lettered, ${tally.uncaught} uncaught error lines (e.g. a cron run whose D1 call failed); the harness retried ${client.stats.retried5xx} API 5xx`,
  );
  for (const line of tally.otherErrors) say(`              error line: ${line}`);
  say(
    `  crons       ${cronRuns.ok} cron runs (${cronRuns.failed} failed): the sweep re-enqueued ${tally.sweepEnqueued} deliveries`,
  );
  say(
    `  events      ${run.published}/${eventCount} published in ${(run.publishedInMs / 1000).toFixed(0)} s (${run.publishRetries} publish calls retried after a 5xx)`,
  );
  say(
    `  deliveries  ${expected.length} expected, ${deliveries.length} created: ${counts.success} success, ${counts.failed} failed (${counts.dead_lettered} dead-lettered), ${counts.not_settled} not settled`,
  );
  say(
    `  attempts    ${counts.attempts_recorded} recorded; receivers logged ${requests.length} requests (${counts.attempts_unreached} attempts refused while a receiver was down)`,
  );
  say(
    `  receivers   ${twoXX} 2xx sent, all recorded as success unless listed below; ${counts.borderline_timeouts} borderline timeouts`,
  );
  say(
    `  duplicates  ${counts.sends_after_success} sends after a success, ${counts.duplicate_event_sends} events sent twice to one endpoint, ${counts.unrecorded_requests} sent-but-unrecorded attempts (at-least-once window: ${tally.recordLost.size})`,
  );
  say(
    `  isolation   healthy deliveries' wait, publish to receipt: median ${isolation.alone_p50_ms} ms alone (p90 ${isolation.alone_p90_ms}, ${isolation.alone_deliveries} deliveries), ` +
      `${isolation.beside_p50_ms} ms beside the timing-out receivers (p90 ${isolation.beside_p90_ms}, ${isolation.beside_deliveries}); held up above ${isolation.bound_p50_ms} ms`,
  );
  say(
    `  shards      endpoints in ${placed.shards} shards: tenants ${Object.entries(placed.tenants)
      .map(([t, n]) => `${t} ${n}`)
      .join(", ")}; partners ${Object.entries(placed.partners)
      .map(([p, n]) => `${p} ${n}`)
      .join(", ")}; away from their partner's shard: ${placed.away.join(", ") || "none"}`,
  );
  say(
    `  kill -9     ${kills.length === 0 ? "none" : kills.map((k) => `${k.when}: ${k.inFlight.size} attempts in flight, up again in ${(k.restartMs / 1000).toFixed(1)} s`).join("; ")}`,
  );
  say(
    `  order       ${ordered.ordered_webhooks} ordered endpoints, ${ordered.ordered_deliveries} deliveries: ${ordered.ordered_in_order} first successes, each in publish order, one at a time`,
  );
  say(`  stats       ${statsNote}`);
  say(
    `  by receiver ${Object.entries(byBehaviour)
      .map(([k, v]) => `${k} ${v.success}/${v.deliveries} ok, ${v.attempts} att`)
      .join("; ")}`,
  );
  say(`  lost        ${lost}`);
  say(
    `  time        settled ${run.settledAt ? `after ${((run.settledAt - run.startedAt) / 1000).toFixed(0)} s` : "NOT within the bound"}; whole run ${run.wholeRunS.toFixed(0)} s`,
  );
  if (violations.length > 0) {
    say(`  FAIL: ${violations.length} violation(s):`);
    for (const v of violations.slice(0, 40)) say(`    - ${v}`);
    if (violations.length > 40) say(`    … ${violations.length - 40} more`);
  } else say("  PASS: nothing lost, every invariant holds");
  if (keep) say(`  files       ${workDir} (worker.log, requests.jsonl, deliveries.json, state/)`);
}
