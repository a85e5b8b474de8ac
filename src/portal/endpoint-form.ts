// The endpoint form: the submitted fields, validated by the API's own schema (endpointFieldShape), with each problem
// attached to its field for the page to show. Everything else (the URL policy with its DNS check, the owner, the cap)
// is saveWebhook's, the API's own write path: fieldErrorsOf turns its 422s into the same field errors.
import { z } from "@hono/zod-openapi";
import type { WebhookFields } from "../domain/webhooks";
import type { ValidationIssue } from "../lib/errors";
import { webhookFieldShape as endpointFieldShape } from "../routes/webhooks/schemas";

export interface EndpointFormValues {
  url: string;
  description: string;
  events: string[];
  headersText: string;
  enabled: boolean;
  /** Deliveries a second, as typed; blank: no limit. */
  rateLimitText: string;
  ordered: boolean;
}

const FIELDS = ["url", "description", "events", "headers", "enabled", "rate_limit", "ordered"] as const;
/** Problems by field; `form` is one about the whole form (the owner's webhook limit). */
export type FieldErrors = Partial<Record<(typeof FIELDS)[number] | "form", string>>;

const EndpointFormSchema = z.strictObject({
  url: endpointFieldShape.url,
  events: endpointFieldShape.events,
  description: endpointFieldShape.description,
  enabled: endpointFieldShape.enabled,
  headers: endpointFieldShape.headers,
  rate_limit: endpointFieldShape.rate_limit,
  ordered: endpointFieldShape.ordered,
});

type FormBody = Record<string, string | File | (string | File)[]>;
const str = (v: FormBody[string] | undefined) =>
  typeof v === "string" ? v : Array.isArray(v) && typeof v[0] === "string" ? v[0] : "";
const all = (v: FormBody[string] | undefined) =>
  v === undefined ? [] : (Array.isArray(v) ? v : [v]).filter((x): x is string => typeof x === "string");

export function readEndpointForm(body: FormBody): EndpointFormValues {
  return {
    url: str(body.url).trim(),
    description: str(body.description).trim(),
    events: all(body.events),
    headersText: str(body.headers),
    enabled: str(body.enabled) === "on",
    rateLimitText: str(body.rate_limit).trim(),
    ordered: str(body.ordered) === "on",
  };
}

export const headersToText = (headers: Record<string, string>) =>
  Object.entries(headers)
    .map(([k, v]) => `${k}: ${v}`)
    .join("\n");

/** `Name: value` per line; blank lines are skipped. */
function parseHeaders(text: string): { headers: Record<string, string> } | { error: string } {
  const headers: Record<string, string> = {};
  const lines = text.split(/\r?\n/);
  for (const [i, line] of lines.entries()) {
    if (!line.trim()) continue;
    const colon = line.indexOf(":");
    if (colon <= 0) return { error: `Line ${i + 1}: write each header as "Name: value"` };
    headers[line.slice(0, colon).trim()] = line.slice(colon + 1).trim();
  }
  return { headers };
}

export function validateEndpointForm(
  values: EndpointFormValues,
): { ok: true; fields: WebhookFields } | { ok: false; errors: FieldErrors } {
  const errors: FieldErrors = {};
  const parsedHeaders = parseHeaders(values.headersText);
  if ("error" in parsedHeaders) errors.headers = parsedHeaders.error;
  const result = EndpointFormSchema.safeParse({
    url: values.url,
    events: values.events,
    description: values.description || null,
    enabled: values.enabled,
    headers: "headers" in parsedHeaders ? parsedHeaders.headers : {},
    rate_limit: values.rateLimitText || null,
    ordered: values.ordered,
  });
  if (!result.success) {
    for (const issue of result.error.issues) {
      const field = issue.path[0] as keyof FieldErrors;
      if (field === "events" && values.events.length === 0) errors.events ??= "Pick at least one event type";
      else errors[field] ??= issue.path.length > 1 ? `${String(issue.path[1])}: ${issue.message}` : issue.message;
    }
  }
  if (!result.success || Object.keys(errors).length > 0) return { ok: false, errors };
  return { ok: true, fields: result.data };
}

/** The write path's validation issues (`loc` ["body", field] or ["body"]) as the form's field errors. */
export function fieldErrorsOf(issues: ValidationIssue[]): FieldErrors {
  const errors: FieldErrors = {};
  for (const { loc, msg } of issues) {
    const field = FIELDS.find((f) => f === loc[1]) ?? "form";
    errors[field] ??= msg;
  }
  return errors;
}
