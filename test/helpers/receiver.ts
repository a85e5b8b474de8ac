// The real local receiver started by receiver-global-setup.ts (Node, 127.0.0.1), seen from inside workerd.
import { inject } from "vitest";

export interface RecordedRequest {
  method: string;
  headers: Record<string, string>;
  body: string;
  received_at: number;
}

const receiverBase = () => inject("receiverUrl");

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
