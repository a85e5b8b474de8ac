// The delivery portal under /portal: server-rendered pages over the same domain functions and authorization rules as the API.
// A portal session is a Principal (portalPrincipal), so requireAccess / visibilityOf / getVisibleEndpoint decide exactly as
// they do for a token: another tenant's webhook is a 404, a write from a read-only session a 403.
import { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import { deleteCookie, getCookie, setCookie } from "hono/cookie";
import { createMiddleware } from "hono/factory";
import { requireAccess, scopeListFilter, visibilityOf } from "../auth/policy";
import {
  DELIVERY_STATUSES,
  type DeliveryRow,
  type DeliveryStatus,
  ERROR_CLASSES,
  type ErrorClass,
  type WebhookEndpointRow,
} from "../db/schema";
import { onWebhookShard } from "../db/shards";
import { type DeliveryFilter, deliveryDetailOf, getDelivery } from "../domain/deliveries";
import { retryDeliveryNow } from "../domain/delivery/manual-retry";
import { describeDeliveryHeaders } from "../domain/delivery/request";
import { EVENT_TYPES, isKnownEventType, subscriptionMatches } from "../domain/event-catalog";
import {
  attemptResponseHeaders,
  type LogCursor,
  listDeliveriesAcross,
  MERGED_LOG_MAX_WEBHOOKS,
  openRecoveriesOf,
  orderedHeadOf,
  recentHealthOf,
  searchDeliveriesByResource,
} from "../domain/portal-queries";
import {
  csrfTokenFor,
  endPortalSession,
  findPortalSession,
  isValidCsrfToken,
  PORTAL_SESSION_TTL_MS,
  portalPrincipal,
  redeemPortalLink,
} from "../domain/portal-sessions";
import {
  countRecoverable,
  countReplayable,
  recoverDeliveries,
  recoveryWindow,
  replayEvents,
  replayEventTypes,
} from "../domain/recovery";
import { FAILURE_FAMILIES, FAILURE_FAMILY_OF, type FailureFamily } from "../domain/stats/histogram";
import { STATS_WINDOW_NAMES, type StatsWindow } from "../domain/stats/read-model";
import { sendWebhookTestEvent, TEST_EVENT_TYPE } from "../domain/webhook-test-event";
import { saveWebhook } from "../domain/webhook-writes";
import {
  deleteWebhook,
  getVisibleWebhook,
  listVisibleWebhooks,
  missedEventsSinceDisabled,
  rotateWebhookSecret,
} from "../domain/webhooks";
import { ApiError, conflict } from "../lib/errors";
import { logger } from "../lib/logger";
import { FAVICON_SVG } from "./assets/favicon";
import { PORTAL_CSS } from "./assets/portal-css";
import { PORTAL_JS } from "./assets/portal-js";
import { type PortalContext, type PortalEnv, type PortalView, SESSION_COOKIE } from "./context";
import {
  emptyEndpointForm,
  endpointFormValuesOf,
  type FieldErrors,
  fieldErrorsOf,
  readEndpointForm,
  validateEndpointForm,
} from "./endpoint-form";
import { type Flash, redirectWithFlash, takeFlash } from "./flash";
import { CsrfField, p, renderPage, webhookPath } from "./layout";
import {
  DeliveryList,
  type DeliveryListing,
  DeliveryPage,
  type DeliveryQueryErrors,
  readDeliveryQuery,
  TenantLog,
} from "./pages/deliveries";
import {
  DeleteConfirm,
  EndpointForm,
  EndpointList,
  EndpointOverview,
  FlashNotice,
  GRACE_CHOICES,
  RotateForm,
} from "./pages/endpoints";
import { EventCatalog, Message, SigningIn } from "./pages/messages";
import { type RecoveryFormState, type RecoveryKindName, RecoveryPage } from "./pages/recovery";
import { StatsPage } from "./pages/stats";
import { endpointStats } from "./stats";
import { parseTimeInput } from "./time-input";

const PER_PAGE = 20;
/** What a resource search lists at most. */
const RESOURCE_SEARCH_LIMIT = 50;
/** A resource search without a start looks this far back. */
const RESOURCE_SEARCH_DEFAULT_MS = 30 * 86_400_000;
const DAY_MS = 86_400_000;
const MAX_FORM_BYTES = 64 * 1024;

export const portalRouter = new Hono<PortalEnv>();

// Security headers on every portal response; the nonce is fresh per response and only our own script tag carries it.
portalRouter.use("*", async (c, next) => {
  const nonce = btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(16))));
  c.set("nonce", nonce);
  c.set("portal", null);
  await next();
  c.header(
    "Content-Security-Policy",
    `default-src 'none'; script-src 'nonce-${nonce}'; style-src 'self'; img-src 'self' data:; connect-src 'self'; ` +
      "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  );
  c.header("X-Content-Type-Options", "nosniff");
  c.header("X-Frame-Options", "DENY");
  // same-origin, not no-referrer: with no-referrer, browsers send "Origin: null" on form posts.
  if (!c.res.headers.has("Referrer-Policy")) c.header("Referrer-Policy", "same-origin");
  c.header("Cross-Origin-Opener-Policy", "same-origin");
  if (!c.res.headers.has("Cache-Control")) c.header("Cache-Control", "no-store");
});

const asset = (body: string, type: string) => (c: PortalContext) =>
  c.body(body, 200, { "Content-Type": `${type}; charset=utf-8`, "Cache-Control": "public, max-age=3600" });
portalRouter.get("/assets/portal.css", asset(PORTAL_CSS, "text/css"));
portalRouter.get("/assets/portal.js", asset(PORTAL_JS, "text/javascript"));
portalRouter.get("/assets/favicon.svg", asset(FAVICON_SVG, "image/svg+xml"));

// The magic link. Opening it once starts a session; the answer navigates on to /portal/ by itself (Refresh), a same-site
// navigation, so the SameSite=Strict cookie is sent even when the link was clicked in another site's page or an e-mail.
portalRouter.get("/link/:token", async (c) => {
  const { db, now } = c.var.services;
  const result = await redeemPortalLink(db, c.req.param("token"), now());
  if (!result.ok) {
    const text: [string, string] = {
      used: ["This link was already used", "Portal links work once. Ask your administrator for a new link."],
      expired: ["This link has expired", "Portal links are short-lived. Ask your administrator for a new link."],
      unknown: [
        "This link is not valid",
        "Check that you copied the whole link, or ask your administrator for a new one.",
      ],
    }[result.reason] as [string, string];
    return renderPage(c, text[0], <Message title={text[0]} text={text[1]} />, result.reason === "unknown" ? 404 : 410);
  }
  setCookie(c, SESSION_COOKIE, result.sessionToken, {
    httpOnly: true,
    secure: true,
    sameSite: "Strict",
    path: "/",
    maxAge: Math.floor(PORTAL_SESSION_TTL_MS / 1000),
  });
  c.header("Refresh", `0; url=${p("")}`);
  c.header("Referrer-Policy", "no-referrer"); // the token is in this page's URL
  return renderPage(c, "Signing in", <SigningIn nonce={c.var.nonce} />);
});

portalRouter.use("*", bodyLimit({ maxSize: MAX_FORM_BYTES, onError: (c) => c.text("Form too large", 413) }));

// Everything below needs a session.
portalRouter.use("*", async (c, next) => {
  const { db, now } = c.var.services;
  const token = getCookie(c, SESSION_COOKIE) ?? "";
  const session = token ? await findPortalSession(db, token, now()) : null;
  if (!session) {
    if (token) deleteCookie(c, SESSION_COOKIE, { path: "/", secure: true });
    return renderPage(
      c,
      "Session ended",
      <Message
        title="Your session has ended"
        text="Open the portal again from your administration console to get a new link."
      />,
      401,
    );
  }
  c.set("portal", { session, principal: portalPrincipal(session), csrf: await csrfTokenFor(token) });
  if (c.req.method === "POST") {
    // SameSite=Strict keeps other sites' forms from carrying the cookie; the token and the Origin check make it explicit.
    // Behind a proxy (wrangler dev, a custom domain) the URL the Worker sees may differ from the browser's: the Host header is what the browser addressed.
    const origin = c.req.header("origin");
    const hosts = [new URL(c.req.url).host, c.req.header("host")];
    // "null" carries no information (some privacy settings send it); the token below still decides.
    if (origin && origin !== "null" && !hosts.includes(URL.parse(origin)?.host))
      return forbiddenPage(c, "This form came from another site.");
    const body = await c.req.parseBody({ all: true });
    const submitted = body._csrf;
    if (!(await isValidCsrfToken(token, typeof submitted === "string" ? submitted : undefined)))
      return forbiddenPage(c, "The form was out of date or not sent by this portal. Reload the page and try again.");
  }
  await next();
});

const view = (c: PortalContext, section: PortalView["section"] = "endpoints"): PortalView => ({
  ...c.var.portal!,
  section,
});
const forbiddenPage = (c: PortalContext, text: string) =>
  renderPage(c, "Not allowed", <Message title="Not allowed" text={text} home />, 403);

// Domain errors become pages with the same status the API would answer.
portalRouter.onError((err, c) => {
  if (err instanceof ApiError) {
    const status = err.status as 403 | 404 | 409 | 422;
    const detail = typeof err.detail === "string" ? err.detail : err.detail.map((i) => i.msg).join("; ");
    const title =
      { 403: "Not allowed", 404: "Not found", 409: "Not possible right now", 422: "Invalid request" }[
        status as number
      ] ?? "Request failed";
    const text =
      status === 403 && c.var.portal?.session.readOnly
        ? "This is a read-only session: it can look but not change anything."
        : detail;
    return renderPage(c, title, <Message title={title} text={text} home />, status);
  }
  logger.error("portal error", { error: String(err?.stack ?? err) });
  return renderPage(
    c,
    "Something went wrong",
    <Message title="Something went wrong" text="The page could not be shown. Try again in a moment." home />,
    500,
  );
});

const services = (c: PortalContext) => c.var.services;
/** The services of the shard that holds `row` (db/shards.ts). */
const endpointServices = (c: PortalContext, row: Pick<WebhookEndpointRow, "id">) =>
  onWebhookShard(services(c), row.id) ?? services(c);
// Every page of one endpoint works in the shard its id names, as the API's routes do ("new" names none: shard 0's).
const onEndpointShard = createMiddleware<PortalEnv>(async (c, next) => {
  c.set("services", endpointServices(c, { id: c.req.param("id") ?? "" }));
  await next();
});
portalRouter.use("/webhooks/:id", onEndpointShard);
portalRouter.use("/webhooks/:id/*", onEndpointShard);
const form = async (c: PortalContext) => c.req.parseBody({ all: true });
const idParam = (c: PortalContext) => c.req.param("id") ?? "";
const visibleEndpoint = (c: PortalContext, level: "read" | "write") => {
  const v = view(c);
  requireAccess(v.principal, level);
  return getVisibleWebhook(services(c).db, idParam(c), visibilityOf(v.principal));
};
const healthOf = async (c: PortalContext, row: WebhookEndpointRow) =>
  (await recentHealthOf(services(c), [row])).get(row.id);
const fieldOf = (body: Record<string, unknown>, name: string) => {
  const v = body[name];
  return typeof v === "string" ? v : Array.isArray(v) && typeof v[0] === "string" ? v[0] : "";
};
const notice = (text: string, tone: "ok" | "warn" = "ok"): Flash => ({ kind: "notice", text, tone });

/** The webhooks the session sees (the first MERGED_LOG_MAX_WEBHOOKS), for the log across them. */
async function visibleWebhooks(c: PortalContext) {
  const { rows, total } = await listVisibleWebhooks(services(c), scopeListFilter(visibilityOf(view(c).principal), {}), {
    page: 1,
    perPage: MERGED_LOG_MAX_WEBHOOKS,
  });
  return { rows, capped: total > rows.length };
}

portalRouter.post("/logout", async (c) => {
  await endPortalSession(services(c).db, view(c).session.id, services(c).now());
  deleteCookie(c, SESSION_COOKIE, { path: "/", secure: true });
  c.set("portal", null);
  return renderPage(
    c,
    "Signed out",
    <Message title="You are signed out" text="Open the portal again from your administration console." />,
  );
});

portalRouter.get("/", async (c) => {
  const v = view(c);
  requireAccess(v.principal, "read");
  const { now } = services(c);
  const page = Math.max(1, Math.min(1_000_000, Number.parseInt(c.req.query("page") ?? "1", 10) || 1));
  const { rows, total, pages } = await listVisibleWebhooks(
    services(c),
    scopeListFilter(visibilityOf(v.principal), {}),
    {
      page,
      perPage: PER_PAGE,
    },
  );
  const at = now();
  const [withStats, health] = await Promise.all([
    Promise.all(
      rows.map(async (row) => ({ row, stats: await endpointStats(endpointServices(c, row), row, "24h", at) })),
    ),
    recentHealthOf(services(c), rows),
  ]);
  const flash = await takeFlash(c);
  return renderPage(
    c,
    "Endpoints",
    <>
      <FlashNotice flash={flash} view={v} />
      <EndpointList
        view={v}
        rows={withStats.map((r) => ({ ...r, health: health.get(r.row.id) }))}
        page={page}
        pages={pages}
        total={total}
      />
    </>,
  );
});

/** The write path's answer, or the field errors of its 422 (a refused URL, the owner's webhook limit) for the form. */
async function formOutcome<T>(
  write: () => Promise<T>,
): Promise<{ ok: true; value: T } | { ok: false; errors: FieldErrors }> {
  try {
    return { ok: true, value: await write() };
  } catch (err) {
    if (err instanceof ApiError && err.status === 422 && Array.isArray(err.detail))
      return { ok: false, errors: fieldErrorsOf(err.detail) };
    throw err;
  }
}

portalRouter.get("/webhooks/new", (c) => {
  requireAccess(view(c).principal, "write");
  return renderPage(c, "Add endpoint", <EndpointForm view={view(c)} values={emptyEndpointForm()} errors={{}} />);
});

portalRouter.post("/webhooks", async (c) => {
  const v = view(c);
  requireAccess(v.principal, "write");
  const values = readEndpointForm(await form(c));
  const checked = validateEndpointForm(values);
  // The API's own create: the owner is the session's tenant (or partner), the URL policy and the limit are the same.
  const saved = checked.ok ? await formOutcome(() => saveWebhook(services(c), v.principal, checked.fields)) : checked;
  if (!saved.ok)
    return renderPage(c, "Add endpoint", <EndpointForm view={v} values={values} errors={saved.errors} />, 422);
  const { webhook, secret } = saved.value;
  return redirectWithFlash(c, webhookPath(webhook.id), {
    kind: "secret",
    title: "Endpoint created. Here is its signing secret",
    secret,
    previousUntil: null,
  });
});

portalRouter.get("/webhooks/:id", async (c) => {
  const row = await visibleEndpoint(c, "read");
  const { db, now } = services(c);
  const [stats, health, jobs, orderedHead, flash] = await Promise.all([
    endpointStats(services(c), row, "24h", now()),
    healthOf(c, row),
    openRecoveriesOf(db, row.id),
    orderedHeadOf(db, row),
    takeFlash(c),
  ]);
  return renderPage(
    c,
    row.url,
    <EndpointOverview
      view={view(c)}
      row={row}
      stats={stats}
      health={health}
      flash={flash}
      jobs={jobs}
      orderedHead={orderedHead}
      now={now()}
    />,
  );
});

portalRouter.get("/webhooks/:id/edit", async (c) => {
  const row = await visibleEndpoint(c, "write");
  return renderPage(
    c,
    "Edit endpoint",
    <EndpointForm view={view(c)} existing={row} values={endpointFormValuesOf(row)} errors={{}} />,
  );
});

/** What the overview says after a change of `enabled`: turned on, with the events missed meanwhile to replay. */
const enabledFlash = (before: WebhookEndpointRow, after: WebhookEndpointRow): Flash | null => {
  if (!before.enabled && after.enabled)
    return { kind: "enabled", missed: missedEventsSinceDisabled(before), disabledAt: before.disabledAt };
  if (before.enabled && !after.enabled)
    return notice("Endpoint disabled: nothing is delivered until it is enabled again.", "warn");
  return null;
};

portalRouter.post("/webhooks/:id/edit", async (c) => {
  const row = await visibleEndpoint(c, "write");
  const values = readEndpointForm(await form(c));
  const checked = validateEndpointForm(values);
  const saved = checked.ok
    ? await formOutcome(() => saveWebhook(services(c), view(c).principal, checked.fields, row))
    : checked;
  if (!saved.ok)
    return renderPage(
      c,
      "Edit endpoint",
      <EndpointForm view={view(c)} existing={row} values={values} errors={saved.errors} />,
      422,
    );
  return redirectWithFlash(c, webhookPath(row.id), enabledFlash(row, saved.value.webhook) ?? notice("Changes saved."));
});

portalRouter.post("/webhooks/:id/enabled", async (c) => {
  const row = await visibleEndpoint(c, "write");
  const enabled = fieldOf(await form(c), "enabled") === "true";
  const { webhook } = await saveWebhook(services(c), view(c).principal, { enabled }, row);
  return redirectWithFlash(c, webhookPath(row.id), enabledFlash(row, webhook) ?? notice("Nothing changed."));
});

portalRouter.get("/webhooks/:id/delete", async (c) => {
  const row = await visibleEndpoint(c, "write");
  return renderPage(c, "Delete endpoint", <DeleteConfirm view={view(c)} row={row} />);
});

portalRouter.post("/webhooks/:id/delete", async (c) => {
  const row = await visibleEndpoint(c, "write");
  await deleteWebhook(services(c).db, row.id, services(c).now());
  return redirectWithFlash(c, p(""), notice("Endpoint deleted."));
});

portalRouter.get("/webhooks/:id/rotate", async (c) => {
  const row = await visibleEndpoint(c, "write");
  return renderPage(c, "Rotate secret", <RotateForm view={view(c)} row={row} />);
});

portalRouter.post("/webhooks/:id/rotate", async (c) => {
  const row = await visibleEndpoint(c, "write");
  const grace = Number(fieldOf(await form(c), "grace"));
  const graceSeconds = GRACE_CHOICES.some(([s]) => s === grace) ? grace : 86_400;
  const { db, secretBox, now } = services(c);
  const rotated = await rotateWebhookSecret(db, secretBox, row, graceSeconds, now());
  return redirectWithFlash(c, webhookPath(row.id), {
    kind: "secret",
    title:
      rotated.previousSecretExpiresAt !== null
        ? "Secret rotated. The previous one keeps signing until the grace period ends"
        : "Secret rotated. The previous one no longer signs",
    secret: rotated.secret,
    previousUntil: rotated.previousSecretExpiresAt,
  });
});

portalRouter.post("/webhooks/:id/test", async (c) => {
  const row = await visibleEndpoint(c, "write");
  const eventType = fieldOf(await form(c), "event_type") || TEST_EVENT_TYPE;
  let sent: Awaited<ReturnType<typeof sendWebhookTestEvent>>;
  try {
    sent = await sendWebhookTestEvent(services(c), row, view(c).principal.subject, eventType);
  } catch (err) {
    // Flow control held it (ordered line, rate limit): queued, not failed.
    if (err instanceof ApiError && err.status === 409 && typeof err.detail === "string")
      return redirectWithFlash(c, webhookPath(row.id), notice(err.detail, "warn"));
    throw err;
  }
  const { outcome } = sent;
  const r = outcome.result;
  return redirectWithFlash(c, webhookPath(row.id), {
    kind: "test",
    outcome: {
      eventType,
      success: r.ok,
      statusCode: r.statusCode,
      durationMs: r.durationMs,
      error: r.errorMessage,
      errorClass: r.errorClass,
      responseExcerpt: r.responseExcerpt,
      deliveryId: outcome.deliveryId,
    },
  });
});

// ---- Deliveries: one endpoint's, or all of them ----

const STATUS_CODE = /^[1-5]\d\d$/;
const EVENT_ID = /^evt_[A-Za-z0-9_-]{1,64}$/;
const TIME_HINT = "Use a date and time (UTC), such as 2026-12-01T09:30, or 1h, 24h, 7d, 30d";

/** A page of the log starts below `<id>` or `<id>.<webhook id>` (ids are unique per webhook only). */
const logCursorOf = (text: string): LogCursor | null => {
  const m = /^(\d{1,16})(?:\.(wh_[A-Za-z0-9_]{1,64}))?$/.exec(text);
  const id = m ? Number(m[1]) : Number.NaN;
  return m && Number.isSafeInteger(id) && id > 0 ? { id, webhookId: m[2] ?? null } : null;
};

/** The error classes a `Last error` choice stands for: a class, or a kind of the stats (several classes). */
const errorClassesOf = (choice: string): ErrorClass[] | null => {
  if ((ERROR_CLASSES as readonly string[]).includes(choice)) return [choice as ErrorClass];
  if ((FAILURE_FAMILIES as readonly string[]).includes(choice))
    return ERROR_CLASSES.filter((e) => FAILURE_FAMILY_OF[e] === (choice as FailureFamily));
  return null;
};

/** The event types a set of webhooks can have deliveries of: what they subscribe to, and the service's own. */
const eventTypesOf = (rows: WebhookEndpointRow[]) =>
  EVENT_TYPES.filter(
    (t) =>
      rows.some((r) => subscriptionMatches(r.events, t.type) && !(r.tenantId !== null && t.group === "partner")) ||
      t.group === "webhook",
  ).map((t) => t.type);

/** Reads and checks the log's filters, then lists: every filter through the per-webhook list, merged across webhooks. */
async function deliveryListing(
  c: PortalContext,
  webhooks: WebhookEndpointRow[],
  opts: { pickWebhook: boolean },
): Promise<DeliveryListing> {
  const { now } = services(c);
  const at = now();
  const query = readDeliveryQuery(c.req.query());
  const errors: DeliveryQueryErrors = {};
  const eventTypes = eventTypesOf(webhooks);
  const base: DeliveryFilter = {};
  if (query.status) {
    if ((DELIVERY_STATUSES as readonly string[]).includes(query.status)) base.status = query.status as DeliveryStatus;
    else errors.status = `Unknown status: pick one of ${DELIVERY_STATUSES.join(", ")}`;
  }
  if (query.eventType) {
    if (isKnownEventType(query.eventType)) base.eventType = query.eventType;
    else errors.eventType = "Unknown event type";
  }
  if (query.statusCode) {
    if (STATUS_CODE.test(query.statusCode)) base.lastStatusCode = Number(query.statusCode);
    else errors.statusCode = "A status code is three digits, from 100 to 599";
  }
  const classes = query.error ? errorClassesOf(query.error) : null;
  if (query.error && !classes) errors.error = "Unknown kind of error";
  const since = query.since ? parseTimeInput(query.since, at) : null;
  const until = query.until ? parseTimeInput(query.until, at) : null;
  if (query.since && since === null) errors.since = TIME_HINT;
  if (query.until && until === null) errors.until = TIME_HINT;
  if (since !== null && until !== null && until <= since) errors.until = "Must be after the start";
  if (since !== null) base.createdFrom = since;
  if (until !== null) base.createdBefore = until;
  if (query.eventId) {
    if (EVENT_ID.test(query.eventId)) base.eventId = query.eventId;
    else errors.eventId = "An event ID is evt_ followed by letters, digits, _ or -";
  }
  if (query.resourceId.length > 128) errors.resourceId = "At most 128 characters";
  const cursor = query.before ? logCursorOf(query.before) : null;
  if (query.before && !cursor) errors.before = "Not a page of this list";
  let ids = webhooks.map((w) => w.id);
  if (opts.pickWebhook && query.webhook) {
    if (ids.includes(query.webhook)) ids = [query.webhook];
    else errors.webhook = "Not one of your endpoints";
  }
  const listing = {
    query,
    errors,
    pickers: { since, until },
    eventTypes,
    items: [] as DeliveryRow[],
    total: 0,
    perPage: PER_PAGE,
    search: null as DeliveryListing["search"],
  };
  if (Object.keys(errors).length > 0) return listing;
  const filters = classes ? classes.map((lastErrorClass) => ({ ...base, lastErrorClass })) : [base];
  if (query.resourceId) {
    const found = await searchDeliveriesByResource(
      services(c),
      ids,
      query.resourceId,
      { from: since ?? at - RESOURCE_SEARCH_DEFAULT_MS, until: until ?? at + 1 },
      RESOURCE_SEARCH_LIMIT,
    );
    // The search narrows by window and resource; the other filters apply to what it found.
    const items = found.rows.filter(
      (d) =>
        (base.status === undefined || d.status === base.status) &&
        (base.eventType === undefined || d.eventType === base.eventType) &&
        (base.lastStatusCode === undefined || d.lastStatusCode === base.lastStatusCode) &&
        (base.eventId === undefined || d.eventId === base.eventId) &&
        (classes === null || (d.lastErrorClass !== null && classes.includes(d.lastErrorClass))),
    );
    const search = { scannedPerEndpoint: found.scannedPerEndpoint, coveredFrom: found.coveredFrom };
    return { ...listing, items, total: items.length, search };
  }
  const { rows, total } = await listDeliveriesAcross(services(c), ids, filters, PER_PAGE, cursor);
  return { ...listing, items: rows, total };
}

const listingStatus = (listing: DeliveryListing) => (Object.keys(listing.errors).length > 0 ? 422 : 200);

portalRouter.get("/deliveries", async (c) => {
  requireAccess(view(c).principal, "read");
  c.set("portal", view(c, "deliveries"));
  const { rows, capped } = await visibleWebhooks(c);
  const listing = await deliveryListing(c, rows, { pickWebhook: true });
  return renderPage(
    c,
    "Deliveries",
    <TenantLog endpoints={rows} listing={listing} capped={capped} />,
    listingStatus(listing),
  );
});

portalRouter.get("/webhooks/:id/deliveries", async (c) => {
  const row = await visibleEndpoint(c, "read");
  const [listing, health] = await Promise.all([deliveryListing(c, [row], { pickWebhook: false }), healthOf(c, row)]);
  return renderPage(
    c,
    "Deliveries",
    <DeliveryList view={view(c)} row={row} health={health} listing={listing} />,
    listingStatus(listing),
  );
});

const deliveryIdParam = (c: PortalContext) => {
  const id = Number(c.req.param("deliveryId"));
  if (!Number.isSafeInteger(id) || id < 1) throw new ApiError(404, "Delivery not found");
  return id;
};

portalRouter.get("/webhooks/:id/deliveries/:deliveryId", async (c) => {
  const row = await visibleEndpoint(c, "read");
  const deliveryId = deliveryIdParam(c);
  const [delivery, flash] = await Promise.all([getDelivery(services(c), row.id, deliveryId), takeFlash(c)]);
  const detail = await deliveryDetailOf(services(c), delivery);
  const responseHeaders = attemptResponseHeaders(delivery);
  const requestHeaders = (startedAt: string) =>
    Object.entries(
      describeDeliveryHeaders({
        deliveryId: detail.id,
        eventId: detail.event_id,
        eventType: detail.event_type,
        customHeaders: row.headers,
        startedAt: Date.parse(startedAt),
      }),
    );
  return renderPage(
    c,
    `Delivery #${detail.id}`,
    <DeliveryPage
      view={view(c)}
      row={row}
      detail={detail}
      requestHeaders={requestHeaders}
      responseHeaders={responseHeaders}
      notice={<FlashNotice flash={flash} row={row} view={view(c)} />}
    />,
  );
});

portalRouter.post("/webhooks/:id/deliveries/:deliveryId/retry", async (c) => {
  let row = await visibleEndpoint(c, "write");
  const deliveryId = deliveryIdParam(c);
  const path = webhookPath(row.id, `/deliveries/${deliveryId}`);
  const enable = fieldOf(await form(c), "enable") === "true";
  if (!row.enabled && !enable) {
    // Not a dead end: the fix is to turn the endpoint on, so that is offered here, in one step.
    return renderPage(
      c,
      "The endpoint is off",
      <div class="center card">
        <h1>The endpoint is off</h1>
        <p>A delivery is retried only to an enabled endpoint. Turn it on and retry this delivery in one step.</p>
        <form method="post" action={`${path}/retry`} class="actions">
          <CsrfField view={view(c)} />
          <input type="hidden" name="enable" value="true" />
          <button class="btn primary" type="submit">
            Enable endpoint and retry
          </button>
          <a class="btn" href={path}>
            Back to the delivery
          </a>
        </form>
      </div>,
      409,
    );
  }
  if (!row.enabled) row = (await saveWebhook(services(c), view(c).principal, { enabled: true }, row)).webhook;
  await retryDeliveryNow(services(c), row, deliveryId);
  return redirectWithFlash(
    c,
    path,
    notice(
      enable
        ? "Endpoint enabled and the retry queued: the attempt shows up here in a moment."
        : "Retry queued: the attempt shows up here in a moment.",
    ),
  );
});

portalRouter.get("/webhooks/:id/stats", async (c) => {
  const row = await visibleEndpoint(c, "read");
  const asked = c.req.query("window") ?? "24h";
  const window: StatsWindow = (STATS_WINDOW_NAMES as string[]).includes(asked) ? (asked as StatsWindow) : "24h";
  const [stats, health] = await Promise.all([
    endpointStats(services(c), row, window, services(c).now()),
    healthOf(c, row),
  ]);
  return renderPage(c, "Stats", <StatsPage view={view(c)} row={row} stats={stats} health={health} />);
});

// ---- Recover and replay: the API's recoverDeliveries / replayEvents, with a count before confirming ----

/** The window of a recover or replay form, checked by the API's own recoveryWindow; problems by field. */
function recoveryFormWindow(
  c: PortalContext,
  sinceText: string,
  untilText: string,
): { since: number | null; until: number | null; errors: RecoveryFormState["errors"]; window: RecoveryWindowValue } {
  const { now, config } = services(c);
  const at = now();
  const since = parseTimeInput(sinceText, at);
  const until = untilText ? parseTimeInput(untilText, at) : null;
  const errors: RecoveryFormState["errors"] = {};
  if (since === null) errors.since = TIME_HINT;
  if (untilText && until === null) errors.until = TIME_HINT;
  if (since === null || errors.until) return { since, until, errors, window: null };
  try {
    const window = recoveryWindow(
      new Date(since).toISOString(),
      until === null ? undefined : new Date(until).toISOString(),
      at,
      config.retentionDays,
    );
    return { since, until, errors, window };
  } catch (err) {
    if (!(err instanceof ApiError) || !Array.isArray(err.detail)) throw err;
    for (const issue of err.detail) errors[issue.loc[1] === "until" ? "until" : "since"] = issue.msg;
    return { since, until, errors, window: null };
  }
}
type RecoveryWindowValue = ReturnType<typeof recoveryWindow> | null;

const recoveryKindOf = (c: PortalContext): RecoveryKindName => (c.req.path.endsWith("/replay") ? "replay" : "recover");

const recoveryPage = async (c: PortalContext) => {
  const row = await visibleEndpoint(c, "read");
  const kind = recoveryKindOf(c);
  const { db, now } = services(c);
  const defaultSince = kind === "replay" && !row.enabled && row.disabledAt !== null ? row.disabledAt : now() - DAY_MS;
  const sinceText = c.req.query("since") ?? new Date(defaultSince).toISOString();
  const { since, until, errors, window } = recoveryFormWindow(c, sinceText, c.req.query("until") ?? "");
  const count = window
    ? kind === "recover"
      ? await countRecoverable(services(c), row, window, now())
      : await countReplayable(services(c), row, window, replayEventTypes(row, undefined))
    : null;
  const [health, jobs] = await Promise.all([healthOf(c, row), openRecoveriesOf(db, row.id)]);
  const state: RecoveryFormState = {
    since,
    until,
    errors,
    preview: window && count !== null ? { count, since: window.since, until: window.until } : null,
  };
  return renderPage(
    c,
    kind === "recover" ? "Recover" : "Replay",
    <RecoveryPage view={view(c)} row={row} health={health} kind={kind} state={state} jobs={jobs} />,
    Object.keys(errors).length > 0 ? 422 : 200,
  );
};

const startRecovery = async (c: PortalContext) => {
  const row = await visibleEndpoint(c, "write");
  const kind = recoveryKindOf(c);
  const body = await form(c);
  const { window } = recoveryFormWindow(c, fieldOf(body, "since"), fieldOf(body, "until"));
  if (!window) return recoveryPage(c);
  if (!row.enabled) throw conflict("The endpoint is disabled: enable it before a recover or replay");
  const result =
    kind === "recover"
      ? await recoverDeliveries(services(c), row, window)
      : await replayEvents(services(c), row, window, replayEventTypes(row, undefined));
  return redirectWithFlash(c, webhookPath(row.id), { kind: "recovery", recovery: kind, result });
};

portalRouter.get("/webhooks/:id/recover", recoveryPage);
portalRouter.get("/webhooks/:id/replay", recoveryPage);
portalRouter.post("/webhooks/:id/recover", startRecovery);
portalRouter.post("/webhooks/:id/replay", startRecovery);

portalRouter.get("/events", (c) => {
  requireAccess(view(c).principal, "read");
  return renderPage(c, "Event catalog", <EventCatalog view={view(c, "events")} />);
});

portalRouter.all("*", (c) =>
  renderPage(c, "Not found", <Message title="Not found" text="There is no page at this address." home />, 404),
);
