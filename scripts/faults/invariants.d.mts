// Types of invariants.mjs, for test/faults/faults.test.ts.
export interface CheckedAttempt {
  attempt: number;
  started_at: number;
  duration_ms?: number;
  success: boolean;
  status_code: number | null;
  error_class: string | null;
}
export interface CheckedDelivery {
  id: number;
  webhook_id: string;
  event_id: string;
  status: string;
  attempt_count: number;
  last_error: string | null;
  attempts: CheckedAttempt[];
}
export interface ReceivedRequest {
  webhook_id: string | null;
  delivery_id: number;
  event_id: string;
  ts: number;
  received_at: number;
  status: number | null;
  sent2xx: boolean;
  finished_at: number | null;
  answer: string;
}
export interface InvariantCounts {
  deliveries: number;
  success: number;
  failed: number;
  dead_lettered: number;
  not_settled: number;
  lost: number;
  attempts_recorded: number;
  requests_received: number;
  attempts_unreached: number;
  unrecorded_requests: number;
  borderline_timeouts: number;
  sends_after_success: number;
  duplicate_event_sends: number;
}
export function checkInvariants(input: {
  deliveries: CheckedDelivery[];
  requests: ReceivedRequest[];
  expected?: { webhook_id: string; event_id: string }[] | null;
  /** unrecordedWindow: "<webhook_id>/<delivery_id>" of each delivery whose attempt was sent but not recorded. */
  opts: { maxAttempts: number; timeoutMs: number; scheduleSeconds?: number[]; unrecordedWindow?: Set<string> };
}): { violations: string[]; counts: InvariantCounts };
export function checkStats(stats: Record<string, any>, deliveries: CheckedDelivery[]): string[];
export function checkNotHeldUp(input: {
  requests: ReceivedRequest[];
  probes: { alone: { event_id: string; published_at: number }[]; beside: { event_id: string; published_at: number }[] };
  healthyWebhookIds: Set<string | null>;
  timeoutMs: number;
}): { violations: string[]; figures: Record<string, number | null> };
export function checkOrdered(input: {
  requests: ReceivedRequest[];
  deliveries: CheckedDelivery[];
  orderedWebhookIds: Set<string | null>;
}): { violations: string[]; figures: Record<string, number> };
