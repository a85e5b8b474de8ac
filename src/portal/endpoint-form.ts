// The endpoint form: the submitted fields, validated by the API's own schema (domain/webhook-fields.ts), with each
// problem attached to its field for the page to show. Everything else (the URL policy with its DNS check, the owner, the cap)
// is saveWebhook's, the API's own write path: fieldErrorsOf turns its 422s into the same field errors.
import { z } from "@hono/zod-openapi";
import type { WebhookEndpointRow } from "../db/schema";
import { webhookCreateShape as endpointFieldShape, type WebhookFields } from "../domain/webhook-fields";
import type { ValidationIssue } from "../lib/errors";

type FormBody = Record<string, string | File | (string | File)[]>;
type FormValue = FormBody[string] | undefined;
const str = (v: FormValue) => (typeof v === "string" ? v : Array.isArray(v) && typeof v[0] === "string" ? v[0] : "");
const all = (v: FormValue) =>
  v === undefined ? [] : (Array.isArray(v) ? v : [v]).filter((x): x is string => typeof x === "string");
const asIs = <V>(value: V) => ({ value });

/**
 * One field of the form, named after the webhook field it writes: its value in the form for a new endpoint and for a
 * stored one, read from a submitted form, and the write path's input it stands for (or the problem to show).
 */
interface FormField<V> {
  initial: V;
  fromRow(row: WebhookEndpointRow): V;
  read(submitted: FormValue): V;
  toInput(value: V): { value: unknown } | { error: string };
}
const field = <V>(f: FormField<V>) => f;

/** The form's fields, in the order its errors are looked up; the page lays out their inputs (pages/endpoints.tsx). */
const FORM_FIELDS = {
  url: field({ initial: "", fromRow: (row) => row.url, read: (v) => str(v).trim(), toInput: asIs }),
  description: field({
    initial: "",
    fromRow: (row) => row.description ?? "",
    read: (v) => str(v).trim(),
    toInput: (v) => ({ value: v || null }),
  }),
  events: field<string[]>({ initial: [], fromRow: (row) => row.events, read: all, toInput: asIs }),
  headers: field({ initial: "", fromRow: (row) => headersToText(row.headers), read: str, toInput: parseHeaders }),
  enabled: field({ initial: true, fromRow: (row) => row.enabled, read: (v) => str(v) === "on", toInput: asIs }),
  // Deliveries a second, as typed; blank: no limit.
  rate_limit: field({
    initial: "",
    fromRow: (row) => (row.rateLimit === null ? "" : String(row.rateLimit)),
    read: (v) => str(v).trim(),
    toInput: (v) => ({ value: v || null }),
  }),
  ordered: field({ initial: false, fromRow: (row) => row.ordered, read: (v) => str(v) === "on", toInput: asIs }),
};
type FormFieldName = keyof typeof FORM_FIELDS;
const FIELDS = Object.keys(FORM_FIELDS) as FormFieldName[];

/** What the form shows in each field. */
export type EndpointFormValues = {
  [K in FormFieldName]: (typeof FORM_FIELDS)[K] extends FormField<infer V> ? V : never;
};
/** Problems by field; `form` is one about the whole form (the owner's webhook limit). */
export type FieldErrors = Partial<Record<FormFieldName | "form", string>>;

const EndpointFormSchema = z.strictObject(
  Object.fromEntries(FIELDS.map((name) => [name, endpointFieldShape[name]])) as {
    [K in FormFieldName]: (typeof endpointFieldShape)[K];
  },
);

const eachField = (value: (name: FormFieldName) => unknown) =>
  Object.fromEntries(FIELDS.map((name) => [name, value(name)])) as EndpointFormValues;

/** The form of a new endpoint. */
export const emptyEndpointForm = (): EndpointFormValues => eachField((name) => FORM_FIELDS[name].initial);
/** The form of a stored endpoint. */
export const endpointFormValuesOf = (row: WebhookEndpointRow): EndpointFormValues =>
  eachField((name) => FORM_FIELDS[name].fromRow(row));

export const readEndpointForm = (body: FormBody): EndpointFormValues =>
  eachField((name) => FORM_FIELDS[name].read(body[name]));

const headersToText = (headers: Record<string, string>) =>
  Object.entries(headers)
    .map(([k, v]) => `${k}: ${v}`)
    .join("\n");

/** `Name: value` per line; blank lines are skipped. */
function parseHeaders(text: string): { value: Record<string, string> } | { error: string } {
  const headers: Record<string, string> = {};
  const lines = text.split(/\r?\n/);
  for (const [i, line] of lines.entries()) {
    if (!line.trim()) continue;
    const colon = line.indexOf(":");
    if (colon <= 0) return { error: `Line ${i + 1}: write each header as "Name: value"` };
    headers[line.slice(0, colon).trim()] = line.slice(colon + 1).trim();
  }
  return { value: headers };
}

export function validateEndpointForm(
  values: EndpointFormValues,
): { ok: true; fields: WebhookFields } | { ok: false; errors: FieldErrors } {
  const errors: FieldErrors = {};
  const input: Record<string, unknown> = {};
  for (const name of FIELDS) {
    const converted = (FORM_FIELDS[name] as FormField<unknown>).toInput(values[name]);
    if ("error" in converted) errors[name] = converted.error;
    else input[name] = converted.value;
  }
  const result = EndpointFormSchema.safeParse(input);
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
