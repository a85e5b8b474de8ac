// The endpoint form: the submitted fields, validated by the API's own schema (endpointFieldShape) and URL policy,
// with each problem attached to its field for the page to show.
import { z } from "@hono/zod-openapi";
import { targetPolicyOf, targetUrlProblem } from "../domain/target-url";
import type { createWebhook } from "../domain/webhooks";
import type { Config } from "../lib/config";
import { webhookFieldShape as endpointFieldShape } from "../routes/webhooks/schemas";

type EndpointFields = Parameters<typeof createWebhook>[2];

export interface EndpointFormValues {
  url: string;
  description: string;
  events: string[];
  headersText: string;
  enabled: boolean;
}

export type FieldErrors = Partial<Record<"url" | "description" | "events" | "headers" | "enabled", string>>;

const EndpointFormSchema = z.strictObject({
  url: endpointFieldShape.url,
  events: endpointFieldShape.events,
  description: endpointFieldShape.description,
  enabled: endpointFieldShape.enabled,
  headers: endpointFieldShape.headers,
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
  config: Pick<Config, "allowInsecureUrls" | "allowPrivateTargets">,
): { ok: true; fields: EndpointFields } | { ok: false; errors: FieldErrors } {
  const errors: FieldErrors = {};
  const parsedHeaders = parseHeaders(values.headersText);
  if ("error" in parsedHeaders) errors.headers = parsedHeaders.error;
  const result = EndpointFormSchema.safeParse({
    url: values.url,
    events: values.events,
    description: values.description || null,
    enabled: values.enabled,
    headers: "headers" in parsedHeaders ? parsedHeaders.headers : {},
  });
  if (!result.success) {
    for (const issue of result.error.issues) {
      const field = issue.path[0] as keyof FieldErrors;
      if (field === "events" && values.events.length === 0) errors.events ??= "Pick at least one event type";
      else errors[field] ??= issue.path.length > 1 ? `${String(issue.path[1])}: ${issue.message}` : issue.message;
    }
  }
  const urlProblem = values.url ? targetUrlProblem(values.url, targetPolicyOf(config)) : null;
  if (urlProblem) errors.url ??= urlProblem;
  if (!result.success || Object.keys(errors).length > 0) return { ok: false, errors };
  return { ok: true, fields: result.data };
}
