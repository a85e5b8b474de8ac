// What the Worker under test reports in its log (structured JSON lines, and wrangler's own lines), counted: the faults
// injected, retries, dead letters, cron work, reloads, and the deliveries inside the at-least-once window.

/** A fresh tally and the line handler that feeds it. */
export function createWorkerLog() {
  const tally = {
    d1Errors: 0,
    d1ErrorsByOp: {},
    duplicates: 0,
    attemptsLogged: 0,
    recordRetries: 0,
    recordLost: new Set(), // delivery ids: sent, recording failed for good
    processingFailed: 0,
    deadLettered: 0,
    enqueueFailed: 0,
    sweepEnqueued: 0,
    reloads: 0,
    uncaught: 0,
    otherErrors: [],
    faultsOn: false,
  };

  function onLine(raw) {
    const line = raw.replace(/\x1b\[[0-9;]*m/g, ""); // wrangler colours the lines of console.warn/error
    const start = line.indexOf('{"level":');
    if (/Reloading local server/.test(line)) tally.reloads++;
    if (start === -1) {
      if (/Uncaught|✘ \[ERROR\]/.test(line)) {
        tally.uncaught++;
        if (tally.otherErrors.length < 5) tally.otherErrors.push(line.trim().slice(0, 300));
      }
      return;
    }
    let entry;
    try {
      entry = JSON.parse(line.slice(start));
    } catch {
      return;
    }
    switch (entry.msg) {
      case "fault injection is ON":
        tally.faultsOn = true;
        break;
      case "fault injected":
        if (entry.fault === "d1_error") {
          tally.d1Errors++;
          tally.d1ErrorsByOp[entry.op] = (tally.d1ErrorsByOp[entry.op] ?? 0) + 1;
        } else if (entry.fault === "duplicate_message") tally.duplicates++;
        break;
      case "delivery attempt":
        tally.attemptsLogged++;
        break;
      case "recording attempts failed; retrying":
        tally.recordRetries++;
        break;
      case "recording attempts failed for good; they were sent but are not recorded":
        for (const key of entry.deliveries ?? []) tally.recordLost.add(key);
        break;
      case "delivery processing failed; message will be retried":
        tally.processingFailed++;
        break;
      case "deliveries dead-lettered":
        tally.deadLettered += entry.count ?? 0;
        break;
      case "enqueue failed; the retry sweep will pick these deliveries up":
        tally.enqueueFailed++;
        break;
      case "retry sweep":
        tally.sweepEnqueued += entry.enqueued ?? 0;
        break;
    }
  }

  return { tally, onLine };
}
