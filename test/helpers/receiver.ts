// The real local receiver started by receiver-global-setup.ts (Node, 127.0.0.1), seen from inside workerd.
import { inject } from "vitest";

export interface RecordedRequest {
  method: string;
  headers: Record<string, string>;
  body: string;
  received_at: number;
}

/** The receiver's base URL; a test that needs it fails (never skips) when the global setup did not provide it. */
export function receiverBase(): string {
  const url = inject("receiverUrl");
  if (!url)
    throw new Error("no receiverUrl: test/helpers/receiver-global-setup.ts must run (vitest.config.ts globalSetup)");
  return url;
}

let counter = 0;
/** A fresh receiver URL that records what it gets; `plan` is the status of each successive request (the last repeats). */
export function hookUrl(
  opts: {
    plan?: (number | string)[];
    retryAfter?: string;
    delayMs?: number;
    body?: string;
    repeat?: number;
    key?: string;
  } = {},
) {
  const key =
    opts.key ?? `k${Date.now().toString(36)}${(counter++).toString(36)}${Math.random().toString(36).slice(2, 6)}`;
  const url = new URL(`${receiverBase()}/hook/${key}`);
  if (opts.plan) url.searchParams.set("plan", opts.plan.join(","));
  if (opts.retryAfter !== undefined) url.searchParams.set("retry-after", opts.retryAfter);
  if (opts.delayMs !== undefined) url.searchParams.set("delay", String(opts.delayMs));
  if (opts.body !== undefined) url.searchParams.set("body", opts.body);
  if (opts.repeat !== undefined) url.searchParams.set("repeat", String(opts.repeat));
  return { url: url.toString(), key };
}

export async function recorded(key: string): Promise<RecordedRequest[]> {
  const res = await fetch(`${receiverBase()}/hook-log/${key}`);
  return (await res.json()) as RecordedRequest[];
}
