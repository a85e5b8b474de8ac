// Endpoint screens: the list, the create/edit form, an endpoint's overview, delete confirmation and secret rotation.
import type { Child, FC } from "hono/jsx";
import type { WebhookEndpointRow } from "../../db/schema";
import { webhookStatus as endpointStatus } from "../../domain/webhooks";
import { Sparkline } from "../charts";
import type { PortalView } from "../context";
import { type EndpointFormValues, type FieldErrors, headersToText } from "../endpoint-form";
import { catalogByGroup } from "../event-examples";
import { Badge, Crumbs, CsrfField, Empty, Pager, p, percent, Time, webhookPath } from "../layout";
import type { EndpointStats } from "../stats";

const canWrite = (view: PortalView) => !view.session.readOnly;

const reasonText = (row: WebhookEndpointRow) => {
  const status = endpointStatus(row);
  if (status === "auto_disabled") return `Turned off after ${row.failureCount} failed deliveries in a row`;
  if (status === "disabled") return "Turned off by an admin";
  return null;
};

export const EndpointList: FC<{
  view: PortalView;
  rows: { row: WebhookEndpointRow; stats: EndpointStats }[];
  page: number;
  pages: number;
  total: number;
}> = ({ view, rows, page, pages, total }) => (
  <>
    <div class="head">
      <div>
        <h1>Endpoints</h1>
        <p class="muted">Where your events are delivered, and how each destination is doing over the last 24 hours.</p>
      </div>
      {canWrite(view) && (
        <a class="btn primary" href={p("/webhooks/new")}>
          + Add endpoint
        </a>
      )}
    </div>
    <div class="card">
      {rows.length === 0 ? (
        <Empty title="No endpoints yet">
          <p>Add an endpoint to start receiving events at your URL.</p>
          {canWrite(view) && (
            <a class="btn primary" href={p("/webhooks/new")}>
              Add your first endpoint
            </a>
          )}
        </Empty>
      ) : (
        <>
          <div class="table-wrap">
            <table>
              <thead>
                <tr>
                  <th scope="col">Endpoint</th>
                  <th scope="col">Status</th>
                  <th scope="col" class="num">
                    Success (24 h)
                  </th>
                  <th scope="col" class="hide-sm">
                    Attempts (24 h)
                  </th>
                </tr>
              </thead>
              <tbody>
                {rows.map(({ row, stats }) => (
                  <tr>
                    <td>
                      <a class="url" href={webhookPath(row.id)}>
                        {row.url}
                      </a>
                      {row.description && <div class="muted small">{row.description}</div>}
                    </td>
                    <td>
                      <Badge status={endpointStatus(row)} />
                      {reasonText(row) && <div class="muted small">{reasonText(row)}</div>}
                    </td>
                    <td class="num">
                      <b>{percent(stats.success_rate)}</b>
                      <div class="muted small">{stats.attempts} attempts</div>
                    </td>
                    <td class="hide-sm">
                      <Sparkline series={stats.series} label={`Attempts per hour over 24 hours for ${row.url}`} />
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
            noun={total === 1 ? "endpoint" : "endpoints"}
            href={(n) => p(`?page=${n}`)}
          />
        </>
      )}
    </div>
  </>
);

const EventPicker: FC<{ selected: string[] }> = ({ selected }) => {
  const has = (v: string) => selected.includes(v);
  return (
    <>
      <label class="check">
        <input type="checkbox" name="events" value="*" checked={has("*")} />
        <span>
          <b>All events</b> <code>*</code>
          <small>Every event type, including ones added later.</small>
        </span>
      </label>
      {catalogByGroup().map(([group, types]) => (
        <details class="group" open={types.some((t) => has(t.type)) || has(`${group}.*`)}>
          <summary>
            {group} <span class="muted small">({types.length})</span>
          </summary>
          <div class="checks">
            <label class="check">
              <input type="checkbox" name="events" value={`${group}.*`} checked={has(`${group}.*`)} />
              <span>
                <b>All {group} events</b> <code>{`${group}.*`}</code>
              </span>
            </label>
            {types.map((t) => (
              <label class="check">
                <input type="checkbox" name="events" value={t.type} checked={has(t.type)} />
                <span>
                  <code>{t.type}</code>
                  <small>{t.description}</small>
                </span>
              </label>
            ))}
          </div>
        </details>
      ))}
    </>
  );
};

const FieldError: FC<{ id: string; error?: string }> = ({ id, error }) =>
  error ? (
    <p class="error-text" id={id}>
      {error}
    </p>
  ) : null;

export const EndpointForm: FC<{
  view: PortalView;
  existing?: WebhookEndpointRow;
  values: EndpointFormValues;
  errors: FieldErrors;
}> = ({ view, existing, values, errors }) => {
  const action = existing ? webhookPath(existing.id, "/edit") : p("/webhooks");
  const invalid = (f: keyof FieldErrors) => (errors[f] ? "true" : undefined);
  const describedBy = (f: keyof FieldErrors, hint: string) => (errors[f] ? `${hint} ${f}-error` : hint);
  return (
    <>
      <Crumbs
        items={
          existing
            ? [
                ["Endpoints", p("")],
                [existing.url, webhookPath(existing.id)],
                ["Edit", null],
              ]
            : [
                ["Endpoints", p("")],
                ["New", null],
              ]
        }
      />
      <h1>{existing ? "Edit endpoint" : "Add endpoint"}</h1>
      {Object.keys(errors).length > 0 && (
        <div class="notice bad" role="alert">
          <b>{errors.form ?? "Please fix the highlighted fields."}</b>
        </div>
      )}
      <form method="post" action={action} class="card" novalidate>
        <CsrfField view={view} />
        <div class="field">
          <label for="url">Endpoint URL</label>
          <input
            id="url"
            name="url"
            type="url"
            required
            value={values.url}
            placeholder="https://example.com/webhooks/scaikey"
            aria-invalid={invalid("url")}
            aria-describedby={describedBy("url", "url-hint")}
            autofocus
          />
          <p class="hint" id="url-hint">
            We POST each event here as JSON, signed with your endpoint's secret.
          </p>
          <FieldError id="url-error" error={errors.url} />
        </div>
        <div class="field">
          <label for="description">Description</label>
          <input
            id="description"
            name="description"
            type="text"
            value={values.description}
            maxlength={500}
            placeholder="What this endpoint is for"
            aria-invalid={invalid("description")}
            aria-describedby={describedBy("description", "description-hint")}
          />
          <p class="hint" id="description-hint">
            Optional; shown to your team only.
          </p>
          <FieldError id="description-error" error={errors.description} />
        </div>
        <fieldset aria-invalid={invalid("events")} aria-describedby={errors.events ? "events-error" : undefined}>
          <legend>Event types</legend>
          <p class="hint">Pick types one by one, a whole group, or everything.</p>
          <FieldError id="events-error" error={errors.events} />
          <EventPicker selected={values.events} />
        </fieldset>
        <div class="field">
          <label for="headers">Custom headers</label>
          <textarea
            id="headers"
            name="headers"
            rows={3}
            placeholder="X-Partner-Token: abc123"
            aria-invalid={invalid("headers")}
            aria-describedby={describedBy("headers", "headers-hint")}
          >
            {values.headersText}
          </textarea>
          <p class="hint" id="headers-hint">
            One <code>Name: value</code> per line, sent with every delivery.
          </p>
          <FieldError id="headers-error" error={errors.headers} />
        </div>
        <div class="field">
          <label class="check">
            <input type="checkbox" name="enabled" checked={values.enabled} />
            <span>
              Enabled
              <small>A disabled endpoint receives nothing until it is enabled again.</small>
            </span>
          </label>
        </div>
        <div class="actions">
          <button class="btn primary" type="submit" data-busy="Saving…">
            {existing ? "Save changes" : "Create endpoint"}
          </button>
          <a class="btn" href={existing ? webhookPath(existing.id) : p("")}>
            Cancel
          </a>
        </div>
      </form>
    </>
  );
};

export const formValuesOf = (row: WebhookEndpointRow): EndpointFormValues => ({
  url: row.url,
  description: row.description ?? "",
  events: row.events,
  headersText: headersToText(row.headers),
  enabled: row.enabled,
});

const EndpointTabs: FC<{ row: WebhookEndpointRow; current: "overview" | "deliveries" | "stats" }> = ({
  row,
  current,
}) => (
  <nav class="tabs" aria-label="Endpoint">
    <a href={webhookPath(row.id)} aria-current={current === "overview" ? "page" : undefined}>
      Overview
    </a>
    <a href={webhookPath(row.id, "/deliveries")} aria-current={current === "deliveries" ? "page" : undefined}>
      Deliveries
    </a>
    <a href={webhookPath(row.id, "/stats")} aria-current={current === "stats" ? "page" : undefined}>
      Stats
    </a>
    {/* Recover / replay: a tab goes here when the domain has them (see router.tsx, "Recover and replay"). */}
  </nav>
);

export const EndpointHeader: FC<{
  row: WebhookEndpointRow;
  view: PortalView;
  current: "overview" | "deliveries" | "stats";
}> = ({ row, view, current }) => (
  <>
    <Crumbs
      items={[
        ["Endpoints", p("")],
        [row.id, null],
      ]}
    />
    <div class="head">
      <div>
        <h1 class="url">{row.url}</h1>
        <Badge status={endpointStatus(row)} /> {reasonText(row) && <span class="muted small">{reasonText(row)}</span>}
      </div>
      {canWrite(view) && current === "overview" && (
        <div class="actions">
          <form method="post" action={webhookPath(row.id, "/test")} class="inline">
            <CsrfField view={view} />
            <button class="btn" type="submit" data-busy="Sending…">
              Send test event
            </button>
          </form>
          <a class="btn" href={webhookPath(row.id, "/edit")}>
            Edit
          </a>
        </div>
      )}
    </div>
    <EndpointTabs row={row} current={current} />
  </>
);

export interface TestOutcome {
  success: boolean;
  statusCode: number | null;
  durationMs: number;
  error: string | null;
  errorClass: string | null;
  responseExcerpt: string | null;
  deliveryId: number;
}

export const TestResult: FC<{ row: WebhookEndpointRow; outcome: TestOutcome }> = ({ row, outcome }) => (
  <div class={`notice ${outcome.success ? "ok" : "bad"}`} role="status" id="test-result">
    <h2>{outcome.success ? "Test event delivered" : "Test event failed"}</h2>
    <dl class="props">
      <dt>Status</dt>
      <dd>{outcome.statusCode ?? "no response"}</dd>
      <dt>Duration</dt>
      <dd>{outcome.durationMs} ms</dd>
      {outcome.errorClass && (
        <>
          <dt>Error</dt>
          <dd>
            <code>{outcome.errorClass}</code> {outcome.error}
          </dd>
        </>
      )}
      <dt>Delivery</dt>
      <dd>
        <a href={webhookPath(row.id, `/deliveries/${outcome.deliveryId}`)}>#{outcome.deliveryId}</a>
      </dd>
    </dl>
    {outcome.responseExcerpt !== null && (
      <>
        <p>
          <b>Response</b>
        </p>
        <pre>{outcome.responseExcerpt || "(empty body)"}</pre>
      </>
    )}
  </div>
);

export const EndpointOverview: FC<{
  view: PortalView;
  row: WebhookEndpointRow;
  stats: EndpointStats;
  notice?: Child;
}> = ({ view, row, stats, notice }) => (
  <>
    <EndpointHeader row={row} view={view} current="overview" />
    {notice}
    <div class="kpis">
      <div class="kpi">
        <b>{percent(stats.success_rate)}</b>
        <span>Success rate, 24 h</span>
      </div>
      <div class="kpi">
        <b>{stats.attempts}</b>
        <span>Attempts, 24 h</span>
      </div>
      <div class="kpi">
        <b>{stats.latency.p95 === null ? "—" : `${stats.latency.p95} ms`}</b>
        <span>p95 latency, 24 h</span>
      </div>
      <div class="kpi">
        <b>{row.failureCount}</b>
        <span>Failures in a row</span>
      </div>
    </div>
    <div class="grid">
      <section class="card" aria-labelledby="details-title">
        <h2 id="details-title">Details</h2>
        <dl class="props">
          <dt>ID</dt>
          <dd class="mono">{row.id}</dd>
          <dt>Description</dt>
          <dd>{row.description ?? <span class="muted">—</span>}</dd>
          <dt>Events</dt>
          <dd>
            {row.events.map((e, i) => (
              <>
                {i > 0 && ", "}
                <code>{e}</code>
              </>
            ))}
          </dd>
          <dt>Headers</dt>
          <dd>
            {Object.keys(row.headers).length === 0 ? (
              <span class="muted">none</span>
            ) : (
              Object.entries(row.headers).map(([k, v]) => (
                <div class="mono">
                  {k}: {v}
                </div>
              ))
            )}
          </dd>
          <dt>Created</dt>
          <dd>
            <Time at={row.createdAt} />
          </dd>
          <dt>Last success</dt>
          <dd>
            <Time at={row.lastSuccessAt} empty="never" />
          </dd>
          <dt>Last failure</dt>
          <dd>
            <Time at={row.lastFailureAt} empty="never" />
          </dd>
        </dl>
      </section>
      {canWrite(view) && (
        <section class="card" aria-labelledby="manage-title">
          <h2 id="manage-title">Manage</h2>
          <p class="muted small">
            {row.enabled
              ? "Turn the endpoint off to pause deliveries."
              : "Turn it on again to resume deliveries; the failure count starts afresh."}
          </p>
          <form method="post" action={webhookPath(row.id, "/enabled")} class="inline">
            <CsrfField view={view} />
            <input type="hidden" name="enabled" value={row.enabled ? "false" : "true"} />
            <button class="btn" type="submit">
              {row.enabled ? "Disable endpoint" : "Enable endpoint"}
            </button>
          </form>
          <p class="muted small">
            Rotate the signing secret when it may have leaked; the old one can keep working for a while.
          </p>
          <a class="btn" href={webhookPath(row.id, "/rotate")}>
            Rotate secret…
          </a>
          <p class="muted small">Deleting stops all deliveries to this endpoint.</p>
          <a class="btn danger" href={webhookPath(row.id, "/delete")}>
            Delete endpoint…
          </a>
        </section>
      )}
    </div>
  </>
);

export const DeleteConfirm: FC<{ view: PortalView; row: WebhookEndpointRow }> = ({ view, row }) => (
  <>
    <Crumbs
      items={[
        ["Endpoints", p("")],
        [row.url, webhookPath(row.id)],
        ["Delete", null],
      ]}
    />
    <h1>Delete this endpoint?</h1>
    <div class="card">
      <p>
        <span class="url">{row.url}</span> will stop receiving events. Deliveries not yet sent are cancelled. This
        cannot be undone.
      </p>
      <form method="post" action={webhookPath(row.id, "/delete")} class="actions">
        <CsrfField view={view} />
        <button class="btn danger solid" type="submit" data-busy="Deleting…">
          Delete endpoint
        </button>
        <a class="btn" href={webhookPath(row.id)}>
          Keep it
        </a>
      </form>
    </div>
  </>
);

export const GRACE_CHOICES: [number, string][] = [
  [0, "Stop signing with the old secret now"],
  [3600, "Keep the old secret for 1 hour"],
  [86_400, "Keep the old secret for 24 hours"],
  [7 * 86_400, "Keep the old secret for 7 days"],
];

export const RotateForm: FC<{ view: PortalView; row: WebhookEndpointRow }> = ({ view, row }) => (
  <>
    <Crumbs
      items={[
        ["Endpoints", p("")],
        [row.url, webhookPath(row.id)],
        ["Rotate secret", null],
      ]}
    />
    <h1>Rotate signing secret</h1>
    <form method="post" action={webhookPath(row.id, "/rotate")} class="card">
      <CsrfField view={view} />
      <fieldset>
        <legend>Grace period</legend>
        <p class="hint">
          During the grace period every delivery carries both signatures, so receivers can switch at their pace.
        </p>
        {GRACE_CHOICES.map(([seconds, label]) => (
          <label class="check">
            <input type="radio" name="grace" value={String(seconds)} checked={seconds === 86_400} />
            <span>{label}</span>
          </label>
        ))}
      </fieldset>
      <div class="actions">
        <button class="btn primary" type="submit" data-busy="Rotating…">
          Rotate secret
        </button>
        <a class="btn" href={webhookPath(row.id)}>
          Cancel
        </a>
      </div>
    </form>
  </>
);
