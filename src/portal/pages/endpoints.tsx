// Endpoint screens: the list, the create/edit form, an endpoint's overview, delete confirmation and secret rotation.
import type { FC } from "hono/jsx";
import type { DeliveryRow, WebhookEndpointRow } from "../../db/schema";
import { EVENT_TYPES, isServiceEventType, subscriptionMatches } from "../../domain/event-catalog";
import { catalogByGroup } from "../../domain/event-examples";
import type { RecentHealth, RecoveryProgress } from "../../domain/portal-queries";
import { TEST_EVENT_TYPE } from "../../domain/webhook-test-event";
import { missedEventsSinceDisabled } from "../../domain/webhooks";
import { Sparkline } from "../charts";
import type { PortalView } from "../context";
import type { EndpointFormValues, FieldErrors } from "../endpoint-form";
import type { Flash, TestOutcome } from "../flash";
import {
  Badge,
  Crumbs,
  CsrfField,
  duration,
  Empty,
  Pager,
  p,
  percent,
  plural,
  SecretBox,
  Time,
  webhookPath,
} from "../layout";
import type { EndpointStats } from "../stats";
import { disabledReasonText, displayStatus, errorInWords } from "../words";

const canWrite = (view: PortalView) => !view.session.readOnly;

/** The last error of a webhook's recent deliveries, in words, with its time. */
const LastError: FC<{ health: RecentHealth | undefined }> = ({ health }) => {
  const last = health?.lastError;
  if (!last) return null;
  const words = errorInWords(last.errorClass, last.error, last.statusCode);
  return (
    <div class="muted small last-error">
      Last error: <b class="err">{words.text}</b> · <Time at={last.at} />
    </div>
  );
};

/** The state badge with why: the reason it is off, or how its recent deliveries went while it fails. */
const StatusCell: FC<{ row: WebhookEndpointRow; health: RecentHealth | undefined }> = ({ row, health }) => {
  const status = displayStatus(row, health);
  const reason = disabledReasonText(row);
  return (
    <>
      <Badge status={status} />
      {reason && <div class="muted small">{reason}</div>}
      {status === "failing" && health && (
        <div class="muted small">
          {health.failed} of the last {plural(health.recent, "delivery", "deliveries")} failed
        </div>
      )}
    </>
  );
};

export const EndpointList: FC<{
  view: PortalView;
  rows: { row: WebhookEndpointRow; stats: EndpointStats; health: RecentHealth | undefined }[];
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
            <table class="rows">
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
                {rows.map(({ row, stats, health }) => (
                  <tr>
                    <td>
                      <a class="url" href={webhookPath(row.id)}>
                        {row.url}
                      </a>
                      {row.description && <div class="muted small">{row.description}</div>}
                      <LastError health={health} />
                    </td>
                    <td data-label="Status">
                      <StatusCell row={row} health={health} />
                    </td>
                    <td class="num" data-label="Success (24 h)">
                      <b>{percent(stats.success_rate)}</b>
                      <div class="muted small">{plural(stats.attempts, "attempt")}</div>
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

const EventPicker: FC<{ selected: string[]; view: PortalView }> = ({ selected, view }) => {
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
      {catalogByGroup(view.session).map(([group, types]) => (
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
          <EventPicker selected={values.events} view={view} />
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
            {values.headers}
          </textarea>
          <p class="hint" id="headers-hint">
            One <code>Name: value</code> per line, sent with every delivery.
          </p>
          <FieldError id="headers-error" error={errors.headers} />
        </div>
        <div class="field">
          <label for="rate_limit">Rate limit</label>
          <input
            id="rate_limit"
            name="rate_limit"
            type="text"
            inputmode="numeric"
            value={values.rate_limit}
            placeholder="No limit"
            aria-invalid={invalid("rate_limit")}
            aria-describedby={describedBy("rate_limit", "rate_limit-hint")}
          />
          <p class="hint" id="rate_limit-hint">
            The most deliveries a second your receiver gets (1 to 1000), retries included; blank for no limit. What
            comes faster waits its turn, nothing is dropped.
          </p>
          <FieldError id="rate_limit-error" error={errors.rate_limit} />
        </div>
        <div class="field">
          <label class="check">
            <input type="checkbox" name="ordered" checked={values.ordered} />
            <span>
              Deliver in order
              <small>
                One delivery at a time, in the order the events were published: the next goes once the one before has
                succeeded or failed for good. A delivery that keeps failing holds up the ones after it.
              </small>
            </span>
          </label>
          <FieldError id="ordered-error" error={errors.ordered} />
        </div>
        <div class="field">
          <label class="check">
            <input type="checkbox" name="enabled" checked={values.enabled} />
            <span>
              Enabled
              <small>
                {existing && !existing.enabled
                  ? `${disabledReasonText(existing)}. Tick to turn it on again; the failure count starts afresh.`
                  : "A disabled endpoint receives nothing until it is enabled again."}
              </small>
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

type Tab = "overview" | "deliveries" | "stats" | "recover" | "replay";

const EndpointTabs: FC<{ row: WebhookEndpointRow; current: Tab }> = ({ row, current }) => {
  const tab = (name: Tab, label: string, rest: string) => (
    <a href={webhookPath(row.id, rest)} aria-current={current === name ? "page" : undefined}>
      {label}
    </a>
  );
  return (
    <nav class="tabs" aria-label="Endpoint">
      {tab("overview", "Overview", "")}
      {tab("deliveries", "Deliveries", "/deliveries")}
      {tab("stats", "Stats", "/stats")}
      {tab("recover", "Recover", "/recover")}
      {tab("replay", "Replay", "/replay")}
    </nav>
  );
};

export const EndpointHeader: FC<{
  row: WebhookEndpointRow;
  view: PortalView;
  current: Tab;
  health?: RecentHealth;
}> = ({ row, view, current, health }) => (
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
        <StatusCell row={row} health={health} />
        <LastError health={health} />
      </div>
      {canWrite(view) && current === "overview" && (
        <div class="actions">
          <a class="btn" href={webhookPath(row.id, "/edit")}>
            Edit
          </a>
        </div>
      )}
    </div>
    <EndpointTabs row={row} current={current} />
  </>
);

/** Event types a test can send to this webhook: `webhook.test`, then the catalog's examples of what it subscribes to. */
const testableTypes = (row: WebhookEndpointRow) => [
  TEST_EVENT_TYPE,
  ...EVENT_TYPES.filter(
    (t) =>
      !isServiceEventType(t.type) &&
      subscriptionMatches(row.events, t.type) &&
      !(row.tenantId !== null && t.group === "partner"),
  ).map((t) => t.type),
];

const TestForm: FC<{ view: PortalView; row: WebhookEndpointRow }> = ({ view, row }) => (
  <form method="post" action={webhookPath(row.id, "/test")} class="test-form">
    <CsrfField view={view} />
    <div class="field">
      <label for="test-type">Event to send</label>
      <select id="test-type" name="event_type" aria-describedby="test-hint">
        {testableTypes(row).map((t) => (
          <option value={t}>{t === TEST_EVENT_TYPE ? `${t} (a test event)` : `${t} (catalog example)`}</option>
        ))}
      </select>
      <p class="hint" id="test-hint">
        Sent now to this endpoint alone. A catalog example looks like a real event: your receiver handles it as one.
      </p>
    </div>
    <button class="btn" type="submit" data-busy="Sending…">
      Send test event
    </button>
  </form>
);

const TestResult: FC<{ row: WebhookEndpointRow; outcome: TestOutcome }> = ({ row, outcome }) => {
  const words = outcome.success ? null : errorInWords(outcome.errorClass as never, outcome.error, outcome.statusCode);
  return (
    <div class={`notice ${outcome.success ? "ok" : "bad"}`} role="status" id="test-result">
      <h2>{outcome.success ? "Test event delivered" : "Test event failed"}</h2>
      <dl class="props">
        <dt>Event</dt>
        <dd>
          <code>{outcome.eventType}</code>
        </dd>
        <dt>Status</dt>
        <dd>{outcome.statusCode ?? "no response"}</dd>
        <dt>Duration</dt>
        <dd>{duration(outcome.durationMs)}</dd>
        {words && (
          <>
            <dt>Error</dt>
            <dd>
              {words.text}
              {words.detail && <div class="muted small mono">{words.detail}</div>}
            </dd>
          </>
        )}
        <dt>Delivery</dt>
        <dd>
          <a href={webhookPath(row.id, `/deliveries/${outcome.deliveryId}`)}>#{outcome.deliveryId}</a>
          {!outcome.success && " (retried on its schedule)"}
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
};

/** A flash left by the last action, shown once. */
export const FlashNotice: FC<{ flash: Flash | null; row?: WebhookEndpointRow; view: PortalView }> = ({
  flash,
  row,
  view,
}) => {
  if (!flash) return null;
  switch (flash.kind) {
    case "notice":
      return (
        <div class={`notice ${flash.tone}`} role="status">
          {flash.text}
        </div>
      );
    case "secret":
      return (
        <SecretBox title={flash.title} secret={flash.secret}>
          {flash.previousUntil !== null && (
            <p>
              The previous secret keeps signing until <Time at={flash.previousUntil} />, then stops working.
            </p>
          )}
        </SecretBox>
      );
    case "test":
      return row ? <TestResult row={row} outcome={flash.outcome} /> : null;
    case "enabled":
      return (
        <div class="notice ok" role="status" id="enabled-notice">
          <h2>Endpoint enabled: deliveries resume</h2>
          {flash.missed > 0 && row ? (
            <>
              <p>While it was off it missed {plural(flash.missed, "event")}. Replay them now to send what it missed.</p>
              {canWrite(view) && (
                <a
                  class="btn primary"
                  href={`${webhookPath(row.id, "/replay")}${flash.disabledAt ? `?since=${new Date(flash.disabledAt).toISOString()}` : ""}`}
                >
                  Replay the {plural(flash.missed, "missed event")}…
                </a>
              )}
            </>
          ) : (
            <p>The failure count starts afresh.</p>
          )}
        </div>
      );
    case "recovery":
      return (
        <div class="notice ok" role="status" id="recovery-result">
          <h2>
            {flash.recovery === "recover" ? "Recovery accepted" : "Replay accepted"} (202):{" "}
            {flash.recovery === "recover"
              ? `${plural(flash.result.deliveries, "delivery", "deliveries")} queued again`
              : `${plural(flash.result.deliveries, "delivery", "deliveries")} created`}
          </h2>
          <p>
            Window <Time at={flash.result.since} /> to <Time at={flash.result.until} />. Large jobs continue in the
            background; their progress shows below.
          </p>
        </div>
      );
  }
};

/** The button that turns an endpoint back on. */
export const EnableForm: FC<{ view: PortalView; row: WebhookEndpointRow }> = ({ view, row }) => (
  <form method="post" action={webhookPath(row.id, "/enabled")} class="inline">
    <CsrfField view={view} />
    <input type="hidden" name="enabled" value="true" />
    <button class="btn primary" type="submit">
      Enable endpoint
    </button>
  </form>
);

/** Running recoveries and replays, with how far through their window they are. */
export const RecoveryJobs: FC<{ jobs: RecoveryProgress[] }> = ({ jobs }) =>
  jobs.length === 0 ? null : (
    <section class="card" aria-labelledby="jobs-h" id="jobs" data-live="">
      <h2 id="jobs-h">Running</h2>
      {jobs.map((j) => {
        const share = j.until > j.since ? Math.min(1, Math.max(0, (j.cursor - j.since) / (j.until - j.since))) : 1;
        return (
          <div class="job">
            <label for={`job-${j.id}`}>
              {j.kind === "recover" ? "Recovering failed deliveries" : "Replaying missed events"}: through{" "}
              <Time at={j.cursor} /> of <Time at={j.since} /> to <Time at={j.until} />
            </label>
            <progress id={`job-${j.id}`} max={100} value={Math.round(share * 100)}>
              {Math.round(share * 100)}%
            </progress>
          </div>
        );
      })}
    </section>
  );

export const EndpointOverview: FC<{
  view: PortalView;
  row: WebhookEndpointRow;
  stats: EndpointStats;
  health: RecentHealth | undefined;
  flash: Flash | null;
  jobs: RecoveryProgress[];
  orderedHead: DeliveryRow | null;
  now: number;
}> = ({ view, row, stats, health, flash, jobs, orderedHead, now }) => {
  const missed = missedEventsSinceDisabled(row);
  const graceUntil =
    row.previousSecretExpiresAt !== null && row.previousSecretExpiresAt > now ? row.previousSecretExpiresAt : null;
  return (
    <>
      <EndpointHeader row={row} view={view} current="overview" health={health} />
      <FlashNotice flash={flash} row={row} view={view} />
      {!row.enabled && (
        <div class="notice warn" role="status" id="disabled-notice">
          <h2>{disabledReasonText(row)}</h2>
          <p>
            Nothing is delivered while it is off.{" "}
            {missed > 0
              ? `It has missed ${plural(missed, "event")} since it was turned off; after enabling it you can replay them.`
              : "No events were missed so far."}
          </p>
          {canWrite(view) && <EnableForm view={view} row={row} />}
        </div>
      )}
      <RecoveryJobs jobs={jobs} />
      {orderedHead && <OrderedLine row={row} head={orderedHead} />}
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
          <b>{stats.latency.p95 === null ? "—" : duration(stats.latency.p95)}</b>
          <span>p95 latency, 24 h</span>
        </div>
        <div class="kpi">
          <b>{health ? `${health.failed} of ${health.recent}` : "—"}</b>
          <span>Recent deliveries whose last attempt failed</span>
        </div>
        <div class="kpi">
          <b>{row.failureCount}</b>
          <span>Deliveries failed in a row, after all retries</span>
        </div>
      </div>
      {canWrite(view) && (
        <div class="grid">
          <section class="card" aria-labelledby="test-h">
            <h2 id="test-h">Send a test</h2>
            <TestForm view={view} row={row} />
          </section>
          <section class="card" aria-labelledby="recover-h">
            <h2 id="recover-h">Get back what was missed</h2>
            <p class="muted small">
              Send failed deliveries again, or send the events this endpoint never got (while it was off, before it
              existed or subscribed). Each shows how many it will send before you confirm.
            </p>
            <div class="actions">
              <a class="btn" href={webhookPath(row.id, "/recover")}>
                Recover failed since…
              </a>
              <a class="btn" href={webhookPath(row.id, "/replay")}>
                Replay missed events since…
              </a>
            </div>
          </section>
        </div>
      )}
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
            <dt>Rate limit</dt>
            <dd>{row.rateLimit === null ? <span class="muted">none</span> : `${row.rateLimit} deliveries a second`}</dd>
            <dt>Order</dt>
            <dd>
              {row.ordered ? (
                <>
                  One at a time, in publish order
                  {orderedHead ? (
                    <>
                      {"; next: "}
                      <a href={webhookPath(row.id, `/deliveries/${orderedHead.id}`)}>#{orderedHead.id}</a>
                    </>
                  ) : (
                    "; nothing waiting"
                  )}
                </>
              ) : (
                <span class="muted">any order, several at a time</span>
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
            {graceUntil !== null && (
              <>
                <dt>Previous secret</dt>
                <dd>
                  signs too until <Time at={graceUntil} />
                </dd>
              </>
            )}
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
};

/**
 * An ordered webhook's line, when its head is being retried: the rest wait for it, and this says why. A head not yet
 * attempted (or in flight) is simply next, shown in the details.
 */
const OrderedLine: FC<{ row: WebhookEndpointRow; head: DeliveryRow }> = ({ row, head }) => {
  if (head.status !== "retrying") return null;
  const words = errorInWords(head.lastErrorClass, head.lastError, head.lastStatusCode);
  return (
    <div class="notice warn" role="status" id="ordered-line">
      <h2>Deliveries wait in line</h2>
      <p>
        This endpoint gets its deliveries in order, and delivery{" "}
        <a href={webhookPath(row.id, `/deliveries/${head.id}`)}>#{head.id}</a> (<code>{head.eventType}</code>) has not
        got through: {plural(head.attemptCount, "attempt")} so far, the last one: {words.text}. Its next attempt is at{" "}
        <Time at={head.dueAt} />; the deliveries after it wait until it succeeds or fails for good.
      </p>
    </div>
  );
};

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
