// Delivery screens: an endpoint's deliveries with filters, and one delivery with its payload and attempts.
import type { FC } from "hono/jsx";
import { DELIVERY_STATUSES, type DeliveryRow, type WebhookEndpointRow } from "../../db/schema";
import type { getDeliveryDetail } from "../../domain/deliveries";
import { EVENT_TYPES } from "../../domain/event-catalog";
import { indentJsonText } from "../../lib/json-text";
import type { PortalView } from "../context";
import { Badge, Crumbs, CsrfField, Empty, Pager, p, Time, webhookPath } from "../layout";
import { EndpointHeader } from "./endpoints";

export const SINCE_CHOICES = {
  "1h": 3_600_000,
  "24h": 86_400_000,
  "7d": 7 * 86_400_000,
  "30d": 30 * 86_400_000,
} as const;

export interface DeliveryFilterForm {
  status: string;
  eventType: string;
  statusCode: string;
  since: string;
}

const filterQuery = (f: DeliveryFilterForm, page: number) => {
  const q = new URLSearchParams();
  if (f.status) q.set("status", f.status);
  if (f.eventType) q.set("event_type", f.eventType);
  if (f.statusCode) q.set("status_code", f.statusCode);
  if (f.since) q.set("since", f.since);
  if (page > 1) q.set("page", String(page));
  const s = q.toString();
  return s ? `?${s}` : "";
};

export const DeliveryList: FC<{
  view: PortalView;
  row: WebhookEndpointRow;
  filter: DeliveryFilterForm;
  filterError: string | null;
  items: DeliveryRow[];
  page: number;
  pages: number;
  total: number;
}> = ({ view, row, filter, filterError, items, page, pages, total }) => {
  const filtered = Boolean(filter.status || filter.eventType || filter.statusCode || filter.since);
  return (
    <>
      <EndpointHeader row={row} view={view} current="deliveries" />
      <form
        method="get"
        action={webhookPath(row.id, "/deliveries")}
        class="card filters"
        role="search"
        aria-label="Filter deliveries"
      >
        <div class="field">
          <label for="f-status">Status</label>
          <select id="f-status" name="status">
            <option value="">Any</option>
            {DELIVERY_STATUSES.map((s) => (
              <option value={s} selected={filter.status === s}>
                {s}
              </option>
            ))}
          </select>
        </div>
        <div class="field">
          <label for="f-type">Event type</label>
          <select id="f-type" name="event_type">
            <option value="">Any</option>
            {EVENT_TYPES.map((t) => (
              <option value={t.type} selected={filter.eventType === t.type}>
                {t.type}
              </option>
            ))}
          </select>
        </div>
        <div class="field">
          <label for="f-code">Status code</label>
          <input
            id="f-code"
            name="status_code"
            type="number"
            min={100}
            max={599}
            value={filter.statusCode}
            placeholder="e.g. 500"
          />
        </div>
        <div class="field">
          <label for="f-since">Created</label>
          <select id="f-since" name="since">
            <option value="">Any time</option>
            {Object.keys(SINCE_CHOICES).map((s) => (
              <option value={s} selected={filter.since === s}>
                {`Last ${s}`}
              </option>
            ))}
          </select>
        </div>
        <div class="actions">
          <button class="btn primary" type="submit">
            Filter
          </button>
          {filtered && (
            <a class="btn" href={webhookPath(row.id, "/deliveries")}>
              Clear
            </a>
          )}
        </div>
      </form>
      {filterError && (
        <div class="notice bad" role="alert">
          {filterError}
        </div>
      )}
      <div class="card">
        {items.length === 0 ? (
          <Empty title={filtered ? "No deliveries match these filters" : "No deliveries yet"}>
            <p>
              {filtered
                ? "Try a wider time range or clear the filters."
                : "Events this endpoint subscribes to will show up here as they are sent."}
            </p>
          </Empty>
        ) : (
          <>
            <div class="table-wrap">
              <table>
                <thead>
                  <tr>
                    <th scope="col">Delivery</th>
                    <th scope="col">Event</th>
                    <th scope="col">Status</th>
                    <th scope="col" class="num hide-sm">
                      Attempts
                    </th>
                    <th scope="col" class="num">
                      HTTP
                    </th>
                    <th scope="col" class="hide-sm">
                      Created
                    </th>
                  </tr>
                </thead>
                <tbody>
                  {items.map((d) => (
                    <tr>
                      <td>
                        <a href={webhookPath(row.id, `/deliveries/${d.id}`)}>#{d.id}</a>
                      </td>
                      <td>
                        <code>{d.eventType}</code>
                      </td>
                      <td>
                        <Badge status={d.status} />
                      </td>
                      <td class="num hide-sm">{d.attemptCount}</td>
                      <td class="num">{d.lastStatusCode ?? "—"}</td>
                      <td class="hide-sm">
                        <Time at={d.createdAt} />
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
            <Pager
              page={page}
              pages={pages}
              total={total}
              noun={total === 1 ? "delivery" : "deliveries"}
              href={(n) => `${webhookPath(row.id, "/deliveries")}${filterQuery(filter, n)}`}
            />
          </>
        )}
      </div>
    </>
  );
};

type DeliveryDetail = Awaited<ReturnType<typeof getDeliveryDetail>>;

export const DeliveryPage: FC<{
  view: PortalView;
  row: WebhookEndpointRow;
  detail: DeliveryDetail;
  notice?: string;
}> = ({ view, row, detail, notice }) => {
  const retryable = (detail.status === "failed" || detail.status === "cancelled") && detail.payload !== null;
  return (
    <>
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
        </div>
        {!view.session.readOnly && retryable && (
          <form method="post" action={webhookPath(row.id, `/deliveries/${detail.id}/retry`)}>
            <CsrfField view={view} />
            <button class="btn primary" type="submit" data-busy="Queuing…">
              Retry now
            </button>
          </form>
        )}
      </div>
      {notice && (
        <div class="notice ok" role="status">
          {notice}
        </div>
      )}
      <div class="kpis">
        <div class="kpi">
          <b>{detail.attempt_count}</b>
          <span>Attempts</span>
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
            <p class="muted">
              {detail.status === "pending" || detail.status === "retrying"
                ? "Not attempted yet: it is queued."
                : "No attempts were made."}
            </p>
          ) : (
            detail.attempts.map((a) => (
              <article class={`attempt ${a.success ? "ok" : "bad"}`} aria-label={`Attempt ${a.attempt}`}>
                <p>
                  <b>Attempt {a.attempt}</b> · <Time at={a.started_at} /> · {a.duration_ms} ms ·{" "}
                  {a.status_code !== null ? <span>HTTP {a.status_code}</span> : <span class="muted">no response</span>}
                </p>
                {a.error_class && (
                  <p class="small">
                    <code>{a.error_class}</code> {a.error}
                  </p>
                )}
                {a.response_body !== null && (
                  <pre aria-label={`Response to attempt ${a.attempt}`}>{a.response_body || "(empty body)"}</pre>
                )}
              </article>
            ))
          )}
        </section>
        <section class="card" aria-labelledby="payload-h">
          <h2 id="payload-h">Payload</h2>
          {detail.payload === null ? (
            <p class="muted">The payload was removed by the retention policy.</p>
          ) : (
            <pre tabindex={0}>{indentJsonText(detail.payload)}</pre>
          )}
        </section>
      </div>
    </>
  );
};
