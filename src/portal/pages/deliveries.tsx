// Delivery screens: the log of one endpoint or of all of them (filters, search by event or resource id), and one
// delivery with its payload, every attempt's request and response, and what can be done about it.
import type { Child, FC } from "hono/jsx";
import {
  DELIVERY_STATUSES,
  type DeliveryRow,
  ERROR_CLASSES,
  isActiveDelivery,
  type WebhookEndpointRow,
} from "../../db/schema";
import type { getDeliveryDetail } from "../../domain/deliveries";
import type { RecentHealth } from "../../domain/portal-queries";
import { FAILURE_FAMILIES } from "../../domain/stats/histogram";
import { indentJsonText } from "../../lib/json-text";
import type { PortalView } from "../context";
import {
  Badge,
  CopyButton,
  Crumbs,
  CsrfField,
  duration,
  Empty,
  Field,
  InputField,
  p,
  plural,
  Time,
  webhookPath,
} from "../layout";
import { RELATIVE_SPANS, toPickerValue } from "../time-input";
import { errorInWords } from "../words";
import { EndpointHeader } from "./endpoints";

/** The log's filters as typed (query parameters). */
export interface DeliveryQuery {
  webhook: string;
  status: string;
  eventType: string;
  statusCode: string;
  error: string;
  since: string;
  until: string;
  eventId: string;
  resourceId: string;
  before: string;
}
export type DeliveryQueryErrors = Partial<Record<keyof DeliveryQuery, string>>;

const PARAMS: Record<keyof DeliveryQuery, string> = {
  webhook: "webhook",
  status: "status",
  eventType: "event_type",
  statusCode: "status_code",
  error: "error",
  since: "since",
  until: "until",
  eventId: "event_id",
  resourceId: "resource_id",
  before: "before",
};

export function readDeliveryQuery(q: Record<string, string>): DeliveryQuery {
  const entries = Object.entries(PARAMS).map(([k, name]) => [k, (q[name] ?? "").trim()]);
  return Object.fromEntries(entries) as DeliveryQuery;
}

const deliveryQueryString = (query: DeliveryQuery, changes: Partial<DeliveryQuery> = {}) => {
  const q = new URLSearchParams();
  const merged = { ...query, ...changes };
  for (const [k, name] of Object.entries(PARAMS)) {
    const v = merged[k as keyof DeliveryQuery];
    if (v) q.set(name, v);
  }
  const s = q.toString();
  return s ? `?${s}` : "";
};

const isFiltered = (q: DeliveryQuery) =>
  Object.entries(q).some(([k, v]) => k !== "before" && k !== "webhook" && v !== "");

const SelectField: FC<{
  id: string;
  name: string;
  label: string;
  value: string;
  error?: string;
  options: [string, string][];
  anyLabel?: string;
}> = ({ id, name, label, value, error, options, anyLabel = "Any" }) => (
  <Field id={id} label={label} error={error}>
    <select id={id} name={name} aria-invalid={error ? "true" : undefined}>
      <option value="">{anyLabel}</option>
      {options.map(([v, text]) => (
        <option value={v} selected={value === v}>
          {text}
        </option>
      ))}
    </select>
  </Field>
);

const DeliveryFilters: FC<{
  action: string;
  query: DeliveryQuery;
  errors: DeliveryQueryErrors;
  eventTypes: string[];
  webhooks?: WebhookEndpointRow[];
  pickers: { since: number | null; until: number | null };
}> = ({ action, query, errors, eventTypes, webhooks, pickers }) => (
  <form method="get" action={action} class="card filters" role="search" aria-label="Filter deliveries">
    {webhooks && (
      <SelectField
        id="f-webhook"
        name="webhook"
        label="Endpoint"
        value={query.webhook}
        error={errors.webhook}
        options={webhooks.map((w) => [w.id, w.url])}
        anyLabel="All endpoints"
      />
    )}
    <InputField
      id="f-event-id"
      name="event_id"
      label="Event ID"
      value={query.eventId}
      error={errors.eventId}
      placeholder="evt_…"
    />
    <InputField
      id="f-resource"
      name="resource_id"
      label="Resource ID"
      value={query.resourceId}
      error={errors.resourceId}
      placeholder="usr_…"
    />
    <SelectField
      id="f-status"
      name="status"
      label="Status"
      value={query.status}
      error={errors.status}
      options={DELIVERY_STATUSES.map((v) => [v, v])}
    />
    <SelectField
      id="f-type"
      name="event_type"
      label="Event type"
      value={query.eventType}
      error={errors.eventType}
      options={eventTypes.map((v) => [v, v])}
    />
    <InputField
      id="f-code"
      name="status_code"
      label="Last status code"
      value={query.statusCode}
      error={errors.statusCode}
      placeholder="e.g. 500"
      inputmode="numeric"
    />
    <Field id="f-error" label="Last error" error={errors.error}>
      <select id="f-error" name="error" aria-invalid={errors.error ? "true" : undefined}>
        <option value="">Any</option>
        <optgroup label="Kinds (as in stats)">
          {FAILURE_FAMILIES.map((f) => (
            <option value={f} selected={query.error === f}>
              {f}
            </option>
          ))}
        </optgroup>
        <optgroup label="Error classes">
          {ERROR_CLASSES.map((e) => (
            <option value={e} selected={query.error === e}>
              {e}
            </option>
          ))}
        </optgroup>
      </select>
    </Field>
    <InputField
      id="f-since"
      name="since"
      label="Created since (UTC)"
      value={toPickerValue(pickers.since)}
      error={errors.since}
      type="datetime-local"
    />
    <InputField
      id="f-until"
      name="until"
      label="Created before (UTC)"
      value={toPickerValue(pickers.until)}
      error={errors.until}
      type="datetime-local"
    />
    <div class="actions">
      <button class="btn primary" type="submit">
        Filter
      </button>
      {isFiltered(query) && (
        <a class="btn" href={`${action}${deliveryQueryString({ ...readDeliveryQuery({}), webhook: query.webhook })}`}>
          Clear
        </a>
      )}
    </div>
    <p class="quick small">
      <span class="muted">Created in the last:</span>{" "}
      {Object.keys(RELATIVE_SPANS).map((span) => (
        <>
          <a href={`${action}${deliveryQueryString(query, { since: span, until: "", before: "" })}`}>{span}</a>{" "}
        </>
      ))}
    </p>
  </form>
);

const DeliveryTable: FC<{
  items: DeliveryRow[];
  endpoints?: Map<string, WebhookEndpointRow>;
}> = ({ items, endpoints }) => (
  <div class="table-wrap">
    <table class="rows">
      <thead>
        <tr>
          <th scope="col">Delivery</th>
          {endpoints && <th scope="col">Endpoint</th>}
          <th scope="col">Event</th>
          <th scope="col">Status</th>
          <th scope="col" class="num">
            Attempts
          </th>
          <th scope="col" class="num">
            HTTP
          </th>
          <th scope="col">Created (UTC)</th>
        </tr>
      </thead>
      <tbody>
        {items.map((d) => (
          <tr>
            <td>
              <a href={webhookPath(d.webhookId, `/deliveries/${d.id}`)}>#{d.id}</a>
            </td>
            {endpoints && (
              <td data-label="Endpoint" class="url small">
                {endpoints.get(d.webhookId)?.url ?? d.webhookId}
              </td>
            )}
            <td data-label="Event">
              <code>{d.eventType}</code>
            </td>
            <td data-label="Status">
              <Badge status={d.status} />
            </td>
            <td class="num" data-label="Attempts">
              {d.attemptCount}
            </td>
            <td class="num" data-label="HTTP">
              {d.lastStatusCode ?? "—"}
            </td>
            <td data-label="Created">
              <Time at={d.createdAt} />
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  </div>
);

/** Where the next page starts: below this delivery (ids are unique per webhook, so the webhook breaks ties). */
const cursorAfter = (d: DeliveryRow) => `${d.id}.${d.webhookId}`;

/** Newest first, a page at a time: "Older" continues below the last delivery shown. */
const KeysetPager: FC<{
  query: DeliveryQuery;
  action: string;
  items: DeliveryRow[];
  total: number;
  perPage: number;
}> = ({ query, action, items, total, perPage }) => (
  <nav class="pager" aria-label="Pagination">
    <span class="muted small">
      {query.before
        ? `${plural(total, "delivery", "deliveries")} from here on`
        : `${plural(total, "delivery", "deliveries")}`}
    </span>
    <span class="actions">
      {query.before && (
        <a class="btn" href={`${action}${deliveryQueryString(query, { before: "" })}`}>
          ← Newest
        </a>
      )}
      {total > items.length && items.length === perPage && (
        <a
          class="btn"
          rel="next"
          href={`${action}${deliveryQueryString(query, { before: cursorAfter(items[items.length - 1]!) })}`}
        >
          Older →
        </a>
      )}
    </span>
  </nav>
);

export interface DeliveryListing {
  query: DeliveryQuery;
  errors: DeliveryQueryErrors;
  pickers: { since: number | null; until: number | null };
  eventTypes: string[];
  items: DeliveryRow[];
  total: number;
  perPage: number;
  /** Set when the list is a resource search: how many of each endpoint's newest deliveries in D1 it read, and from
   * when on it searched the whole time range. */
  search: { scannedPerEndpoint: number; coveredFrom: number } | null;
}

/** What a resource search looked at: it reads payloads, so it is bounded (domain/portal-queries.ts). */
const SearchScope: FC<{ resourceId: string; search: NonNullable<DeliveryListing["search"]> }> = ({
  resourceId,
  search,
}) => (
  <p class="muted small">
    Deliveries about resource <code>{resourceId}</code> created since <Time at={search.coveredFrom} />. A search reads
    each event, so it looks at each endpoint's newest {search.scannedPerEndpoint} recent deliveries and at most a day of
    history past them: narrow the time range to look further back.
  </p>
);

const Listing: FC<{ listing: DeliveryListing; action: string; endpoints?: Map<string, WebhookEndpointRow> }> = ({
  listing,
  action,
  endpoints,
}) => {
  const { query, errors, items, total, perPage, search } = listing;
  const hasErrors = Object.keys(errors).length > 0;
  return (
    <>
      {hasErrors && (
        <div class="notice bad" role="alert">
          <b>Fix the highlighted filter to see deliveries.</b>
        </div>
      )}
      <div class="card">
        {hasErrors ? (
          <p class="muted">No deliveries are listed until the filters are valid.</p>
        ) : items.length === 0 ? (
          <Empty title={isFiltered(query) ? "No deliveries match these filters" : "No deliveries yet"}>
            <p>
              {isFiltered(query)
                ? "Try a wider time range or clear the filters."
                : "Events the endpoints subscribe to show up here as they are sent."}
            </p>
          </Empty>
        ) : (
          <>
            {search !== null && <SearchScope resourceId={query.resourceId} search={search} />}
            <DeliveryTable items={items} endpoints={endpoints} />
            {search === null && (
              <KeysetPager query={query} action={action} items={items} total={total} perPage={perPage} />
            )}
          </>
        )}
      </div>
    </>
  );
};

export const DeliveryList: FC<{
  view: PortalView;
  row: WebhookEndpointRow;
  health: RecentHealth | undefined;
  listing: DeliveryListing;
}> = ({ view, row, health, listing }) => {
  const action = webhookPath(row.id, "/deliveries");
  return (
    <>
      <EndpointHeader row={row} view={view} current="deliveries" health={health} />
      <DeliveryFilters
        action={action}
        query={listing.query}
        errors={listing.errors}
        eventTypes={listing.eventTypes}
        pickers={listing.pickers}
      />
      <Listing listing={listing} action={action} />
    </>
  );
};

export const TenantLog: FC<{ endpoints: WebhookEndpointRow[]; listing: DeliveryListing; capped: boolean }> = ({
  endpoints,
  listing,
  capped,
}) => {
  const action = p("/deliveries");
  return (
    <>
      <h1>Deliveries</h1>
      <p class="muted">
        Every endpoint's deliveries, newest first. Times are UTC.
        {capped && " Only the first 100 endpoints are covered; pick one to see the others."}
      </p>
      <DeliveryFilters
        action={action}
        query={listing.query}
        errors={listing.errors}
        eventTypes={listing.eventTypes}
        webhooks={endpoints}
        pickers={listing.pickers}
      />
      <Listing listing={listing} action={action} endpoints={new Map(endpoints.map((e) => [e.id, e]))} />
    </>
  );
};

type DeliveryDetail = Awaited<ReturnType<typeof getDeliveryDetail>>;

const HeaderList: FC<{ headers: [string, string][]; label: string }> = ({ headers, label }) => (
  <dl class="headers" aria-label={label}>
    {headers.map(([name, value]) => (
      <>
        <dt>{name}</dt>
        <dd>{value}</dd>
      </>
    ))}
  </dl>
);

export const DeliveryPage: FC<{
  view: PortalView;
  row: WebhookEndpointRow;
  detail: DeliveryDetail;
  requestHeaders: (startedAt: string) => [string, string][];
  responseHeaders: Map<number, [string, string][]>;
  notice?: Child;
}> = ({ view, row, detail, requestHeaders, responseHeaders, notice }) => {
  const retryable = (detail.status === "failed" || detail.status === "cancelled") && detail.payload !== null;
  const active = isActiveDelivery(detail.status);
  const action = webhookPath(row.id, `/deliveries/${detail.id}`);
  return (
    <div id="delivery" data-live={active ? "" : undefined}>
      <Crumbs
        items={[
          ["Endpoints", p("")],
          [row.url, webhookPath(row.id)],
          ["Deliveries", webhookPath(row.id, "/deliveries")],
          [`#${detail.id}`, null],
        ]}
      />
      <div class="head">
        <div>
          <h1>
            Delivery #{detail.id} <Badge status={detail.status} />
          </h1>
          <p class="muted">
            <code>{detail.event_type}</code> · event <span class="mono">{detail.event_id}</span>
          </p>
          {active && (
            <p class="muted small" id="live-note">
              This page refreshes by itself until the delivery is finished.
            </p>
          )}
        </div>
        {!view.session.readOnly && retryable && (
          <form method="post" action={`${action}/retry`}>
            <CsrfField view={view} />
            {row.enabled ? (
              <button class="btn primary" type="submit" data-busy="Queuing…">
                Retry now
              </button>
            ) : (
              <>
                <input type="hidden" name="enable" value="true" />
                <button class="btn primary" type="submit" data-busy="Queuing…">
                  Enable endpoint and retry
                </button>
                <p class="hint">The endpoint is off; this turns it on again, then retries.</p>
              </>
            )}
          </form>
        )}
      </div>
      {notice}
      <div class="kpis">
        <div class="kpi">
          <b>{detail.attempt_count}</b>
          <span>{detail.attempt_count === 1 ? "Attempt" : "Attempts"}</span>
        </div>
        <div class="kpi">
          <b>{detail.last_status_code ?? "—"}</b>
          <span>Last status code</span>
        </div>
        <div class="kpi">
          <b>
            <Time at={detail.created_at} />
          </b>
          <span>Created</span>
        </div>
        <div class="kpi">
          <b>
            <Time at={detail.next_attempt_at ?? detail.completed_at} />
          </b>
          <span>{detail.next_attempt_at ? "Next attempt" : "Completed"}</span>
        </div>
      </div>
      <div class="grid">
        <section class="card" aria-labelledby="attempts-h">
          <h2 id="attempts-h">Attempts</h2>
          {detail.attempts.length === 0 ? (
            <p class="muted">{active ? "Not attempted yet: it is queued." : "No attempts were made."}</p>
          ) : (
            detail.attempts.map((a) => {
              const words = a.success ? null : errorInWords(a.error_class, a.error, a.status_code);
              const response = responseHeaders.get(a.attempt);
              return (
                <article class={`attempt ${a.success ? "ok" : "bad"}`} aria-label={`Attempt ${a.attempt}`}>
                  <p>
                    <b>Attempt {a.attempt}</b> · <Time at={a.started_at} /> · {duration(a.duration_ms)} ·{" "}
                    {a.status_code !== null ? (
                      <span>HTTP {a.status_code}</span>
                    ) : (
                      <span class="muted">no response</span>
                    )}
                  </p>
                  {words && (
                    <p class="small">
                      <b class="err">{words.text}</b>
                      {words.detail && <span class="muted mono"> ({words.detail})</span>}
                    </p>
                  )}
                  <details>
                    <summary>Request headers</summary>
                    <HeaderList
                      headers={requestHeaders(a.started_at)}
                      label={`Request headers of attempt ${a.attempt}`}
                    />
                  </details>
                  {response && (
                    <details>
                      <summary>Response headers</summary>
                      <HeaderList headers={response} label={`Response headers of attempt ${a.attempt}`} />
                    </details>
                  )}
                  {a.success && <p class="muted small">Response headers: not kept for successful attempts.</p>}
                  {a.response_body !== null && (
                    <pre tabindex={0} aria-label={`Response to attempt ${a.attempt}`}>
                      {a.response_body || "(empty body)"}
                    </pre>
                  )}
                </article>
              );
            })
          )}
        </section>
        <section class="card" aria-labelledby="payload-h">
          <div class="head">
            <h2 id="payload-h">Payload</h2>
            {detail.payload !== null && <CopyButton target="payload" label="Copy payload" />}
          </div>
          {detail.payload === null ? (
            <p class="muted">The payload was removed by the retention policy.</p>
          ) : (
            <pre tabindex={0} id="payload" aria-label="Payload">
              {indentJsonText(detail.payload)}
            </pre>
          )}
        </section>
      </div>
    </div>
  );
};
