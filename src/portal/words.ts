// Outcomes in words: an attempt's error as an admin reads it, a webhook's state and why it is off.
import type { ErrorClass, WebhookEndpointRow } from "../db/schema";
import type { RecentHealth } from "../domain/portal-queries";
import { webhookStatus } from "../domain/webhooks";
import { duration } from "./layout";

const STATUS_TEXT: Record<number, string> = {
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  408: "Request Timeout",
  409: "Conflict",
  410: "Gone",
  413: "Payload Too Large",
  415: "Unsupported Media Type",
  422: "Unprocessable Content",
  429: "Too Many Requests",
  500: "Internal Server Error",
  501: "Not Implemented",
  502: "Bad Gateway",
  503: "Service Unavailable",
  504: "Gateway Timeout",
};

const httpStatusText = (code: number) => `HTTP ${code}${STATUS_TEXT[code] ? ` ${STATUS_TEXT[code]}` : ""}`;

/** "no response within 15000 ms" → "15.0 s": the durations inside our own messages, as the rest of the page shows them. */
const withReadableDurations = (text: string) => text.replace(/(\d+) ms\b/g, (_, ms: string) => duration(Number(ms)));

/** An attempt's failure in words: a sentence, and the technical message when it says more. */
export function errorInWords(
  errorClass: ErrorClass | null,
  message: string | null,
  statusCode: number | null,
): { text: string; detail: string | null } {
  const raw = message ? withReadableDurations(message.replace(/^[a-z_0-9]+: /, "")) : null;
  switch (errorClass) {
    case "http_4xx":
    case "http_5xx":
      return { text: statusCode === null ? "HTTP error" : httpStatusText(statusCode), detail: null };
    case "timeout":
      return { text: raw ? `Timed out: ${raw}` : "Timed out", detail: null };
    case "connection_refused":
      return { text: "The receiver refused the connection", detail: raw };
    case "dns":
      return { text: "The receiver's host name could not be resolved", detail: raw };
    case "tls":
      return { text: "The HTTPS (TLS) handshake failed", detail: raw };
    case "network":
      return { text: "The connection failed before an answer came", detail: raw };
    case "redirect":
      return { text: `Redirected (${statusCode ?? "3xx"}); redirects are not followed`, detail: raw };
    case "invalid_response":
      return { text: "The answer was not valid HTTP", detail: raw };
    case "blocked_target":
      return { text: "Not sent: the URL is not allowed", detail: raw };
    default:
      return { text: raw ?? "Failed", detail: null };
  }
}

/** The state a webhook is shown in: its status, or `failing` when it is on but its recent deliveries do not get through. */
export const displayStatus = (row: WebhookEndpointRow, health: RecentHealth | undefined) => {
  const status = webhookStatus(row);
  return status === "active" && health?.failing ? "failing" : status;
};

/** Why a webhook is off, in words; null while it is on. */
export function disabledReasonText(row: WebhookEndpointRow): string | null {
  if (row.enabled) return null;
  if (row.disabledReason === "gone")
    return "Turned off because the receiver answered 410 Gone (it asked for no more deliveries)";
  if (row.disabledReason === "consecutive_failures")
    return `Turned off after ${row.failureCount} deliveries in a row failed, each after all its retries`;
  return "Turned off by an admin";
}
