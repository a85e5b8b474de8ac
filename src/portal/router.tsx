// The delivery portal under /portal: server-rendered pages over the same domain functions and authorization rules as the API.
// A portal session is a Principal (portalPrincipal), so requireAccess / visibilityOf / getVisibleEndpoint decide exactly as
// they do for a token: another tenant's webhook is a 404, a write from a read-only session a 403.
import { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import { deleteCookie, getCookie, setCookie } from "hono/cookie";
import { createMiddleware } from "hono/factory";
import { requireAccess, scopeListFilter, visibilityOf } from "../auth/policy";
import { DELIVERY_STATUSES, type DeliveryStatus, type WebhookEndpointRow } from "../db/schema";
import { onWebhookShard } from "../db/shards";
import { type DeliveryFilter, getDeliveryDetail, listDeliveryHistory } from "../domain/deliveries";
import { retryDeliveryNow } from "../domain/delivery/manual-retry";
import { afterAttempts } from "../domain/delivery/requeue";
import { isKnownEventType } from "../domain/event-catalog";
import {
  csrfTokenFor,
  endPortalSession,
  findPortalSession,
  isValidCsrfToken,
  PORTAL_SESSION_TTL_MS,
  portalPrincipal,
  redeemPortalLink,
} from "../domain/portal-sessions";
import { STATS_WINDOW_NAMES, type StatsWindow } from "../domain/stats/read-model";
import { sendWebhookTestEvent } from "../domain/webhook-test-event";
import { saveWebhook } from "../domain/webhook-writes";
import { deleteWebhook, getVisibleWebhook, listVisibleWebhooks, rotateWebhookSecret } from "../domain/webhooks";
import { ApiError } from "../lib/errors";
import { logger } from "../lib/logger";
import { PORTAL_CSS } from "./assets/portal-css";
import { PORTAL_JS } from "./assets/portal-js";
import { type PortalContext, type PortalEnv, type PortalView, SESSION_COOKIE } from "./context";
import {
  type EndpointFormValues,
  type FieldErrors,
  fieldErrorsOf,
  readEndpointForm,
  validateEndpointForm,
} from "./endpoint-form";
import { p, renderPage, SecretBox, webhookPath } from "./layout";
import { type DeliveryFilterForm, DeliveryList, DeliveryPage, SINCE_CHOICES } from "./pages/deliveries";
import {
  DeleteConfirm,
  EndpointForm,
  EndpointList,
  EndpointOverview,
  formValuesOf,
  GRACE_CHOICES,
  RotateForm,
  TestResult,
} from "./pages/endpoints";
import { EventCatalog, Message, SigningIn } from "./pages/messages";
import { StatsPage } from "./pages/stats";
import { endpointStats } from "./stats";

const PER_PAGE = 20;
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
const NOTICES: Record<string, string> = {
  updated: "Changes saved.",
  enabled: "Endpoint enabled: deliveries resume.",
  disabled: "Endpoint disabled: nothing is delivered until it is enabled again.",
  retried: "Retry queued: the attempt shows up here in a moment.",
  deleted: "Endpoint deleted.",
};
const noticeOf = (c: PortalContext) => NOTICES[c.req.query("done") ?? ""];

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
  const withStats = await Promise.all(
    rows.map(async (row) => ({ row, stats: await endpointStats(endpointServices(c, row), row, "24h", at) })),
  );
  const notice = noticeOf(c);
  return renderPage(
    c,
    "Endpoints",
    <>
      {notice && (
        <div class="notice ok" role="status">
          {notice}
        </div>
      )}
      <EndpointList view={v} rows={withStats} page={page} pages={pages} total={total} />
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

const EMPTY_FORM: EndpointFormValues = { url: "", description: "", events: [], headersText: "", enabled: true };

portalRouter.get("/webhooks/new", (c) => {
  requireAccess(view(c).principal, "write");
  return renderPage(c, "Add endpoint", <EndpointForm view={view(c)} values={EMPTY_FORM} errors={{}} />);
});

portalRouter.post("/webhooks", async (c) => {
  const v = view(c);
  requireAccess(v.principal, "write");
  const { now } = services(c);
  const values = readEndpointForm(await form(c));
  const checked = validateEndpointForm(values);
  // The API's own create: the owner is the session's tenant (or partner), the URL policy and the limit are the same.
  const saved = checked.ok ? await formOutcome(() => saveWebhook(services(c), v.principal, checked.fields)) : checked;
  if (!saved.ok)
    return renderPage(c, "Add endpoint", <EndpointForm view={v} values={values} errors={saved.errors} />, 422);
  const { webhook: endpoint, secret } = saved.value;
  const stats = await endpointStats(endpointServices(c, endpoint), endpoint, "24h", now());
  return renderPage(
    c,
    endpoint.url,
    <EndpointOverview
      view={v}
      row={endpoint}
      stats={stats}
      notice={<SecretBox title="Endpoint created. Here is its signing secret" secret={secret} />}
    />,
    201,
  );
});

portalRouter.get("/webhooks/:id", async (c) => {
  const row = await visibleEndpoint(c, "read");
  const stats = await endpointStats(services(c), row, "24h", services(c).now());
  const notice = noticeOf(c);
  return renderPage(
    c,
    row.url,
    <EndpointOverview
      view={view(c)}
      row={row}
      stats={stats}
      notice={
        notice && (
          <div class="notice ok" role="status">
            {notice}
          </div>
        )
      }
    />,
  );
});

portalRouter.get("/webhooks/:id/edit", async (c) => {
  const row = await visibleEndpoint(c, "write");
  return renderPage(
    c,
    "Edit endpoint",
    <EndpointForm view={view(c)} existing={row} values={formValuesOf(row)} errors={{}} />,
  );
});

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
  return c.redirect(`${webhookPath(row.id)}?done=updated`, 303);
});

portalRouter.post("/webhooks/:id/enabled", async (c) => {
  const row = await visibleEndpoint(c, "write");
  const enabled = (await form(c)).enabled === "true";
  await saveWebhook(services(c), view(c).principal, { enabled }, row);
  return c.redirect(`${webhookPath(row.id)}?done=${enabled ? "enabled" : "disabled"}`, 303);
});

portalRouter.get("/webhooks/:id/delete", async (c) => {
  const row = await visibleEndpoint(c, "write");
  return renderPage(c, "Delete endpoint", <DeleteConfirm view={view(c)} row={row} />);
});

portalRouter.post("/webhooks/:id/delete", async (c) => {
  const row = await visibleEndpoint(c, "write");
  await deleteWebhook(services(c).db, row.id, services(c).now());
  return c.redirect(`${p("")}?done=deleted`, 303);
});

portalRouter.get("/webhooks/:id/rotate", async (c) => {
  const row = await visibleEndpoint(c, "write");
  return renderPage(c, "Rotate secret", <RotateForm view={view(c)} row={row} />);
});

portalRouter.post("/webhooks/:id/rotate", async (c) => {
  const row = await visibleEndpoint(c, "write");
  const grace = Number((await form(c)).grace);
  const graceSeconds = GRACE_CHOICES.some(([s]) => s === grace) ? grace : 86_400;
  const { db, secretBox, now } = services(c);
  const rotated = await rotateWebhookSecret(db, secretBox, row, graceSeconds, now());
  const stats = await endpointStats(services(c), row, "24h", now());
  const title =
    graceSeconds > 0
      ? "Secret rotated. The previous one keeps signing until the grace period ends"
      : "Secret rotated. The previous one no longer signs";
  return renderPage(
    c,
    row.url,
    <EndpointOverview
      view={view(c)}
      row={row}
      stats={stats}
      notice={<SecretBox title={title} secret={rotated.secret} />}
    />,
  );
});

portalRouter.post("/webhooks/:id/test", async (c) => {
  const row = await visibleEndpoint(c, "write");
  const svc = services(c);
  const { outcome } = await sendWebhookTestEvent(svc, row, view(c).principal.subject);
  await afterAttempts(svc, [outcome]);
  const r = outcome.result;
  const fresh = await getVisibleWebhook(svc.db, row.id, visibilityOf(view(c).principal));
  const stats = await endpointStats(svc, fresh, "24h", svc.now());
  const result = {
    success: r.ok,
    statusCode: r.statusCode,
    durationMs: r.durationMs,
    error: r.errorMessage,
    errorClass: r.errorClass,
    responseExcerpt: r.responseExcerpt,
    deliveryId: outcome.deliveryId,
  };
  return renderPage(
    c,
    row.url,
    <EndpointOverview view={view(c)} row={fresh} stats={stats} notice={<TestResult row={fresh} outcome={result} />} />,
  );
});

portalRouter.get("/webhooks/:id/deliveries", async (c) => {
  const row = await visibleEndpoint(c, "read");
  const q = c.req.query();
  const filterForm: DeliveryFilterForm = {
    status: q.status ?? "",
    eventType: q.event_type ?? "",
    statusCode: q.status_code ?? "",
    since: q.since ?? "",
  };
  const filter: DeliveryFilter = {};
  let filterError: string | null = null;
  if (filterForm.status) {
    if ((DELIVERY_STATUSES as readonly string[]).includes(filterForm.status))
      filter.status = filterForm.status as DeliveryStatus;
    else filterError = "Unknown status: showing all statuses.";
  }
  if (filterForm.eventType) {
    if (isKnownEventType(filterForm.eventType)) filter.eventType = filterForm.eventType;
    else filterError = "Unknown event type: showing all types.";
  }
  if (filterForm.statusCode) {
    const code = Number(filterForm.statusCode);
    if (Number.isInteger(code) && code >= 100 && code <= 599) filter.lastStatusCode = code;
    else filterError = "A status code is a number from 100 to 599.";
  }
  if (filterForm.since) {
    const span = SINCE_CHOICES[filterForm.since as keyof typeof SINCE_CHOICES];
    if (span) filter.createdFrom = services(c).now() - span;
    else filterError = "Unknown time range: showing any time.";
  }
  const page = Math.max(1, Math.min(1_000_000, Number.parseInt(q.page ?? "1", 10) || 1));
  const { rows, total, pages } = await listDeliveryHistory(services(c), row.id, filter, { page, perPage: PER_PAGE });
  return renderPage(
    c,
    "Deliveries",
    <DeliveryList
      view={view(c)}
      row={row}
      filter={filterForm}
      filterError={filterError}
      items={rows}
      page={page}
      pages={pages}
      total={total}
    />,
  );
});

const deliveryIdParam = (c: PortalContext) => {
  const id = Number(c.req.param("deliveryId"));
  if (!Number.isSafeInteger(id) || id < 1) throw new ApiError(404, "Delivery not found");
  return id;
};

portalRouter.get("/webhooks/:id/deliveries/:deliveryId", async (c) => {
  const row = await visibleEndpoint(c, "read");
  const detail = await getDeliveryDetail(services(c), row.id, deliveryIdParam(c));
  return renderPage(
    c,
    `Delivery #${detail.id}`,
    <DeliveryPage view={view(c)} row={row} detail={detail} notice={noticeOf(c)} />,
  );
});

portalRouter.post("/webhooks/:id/deliveries/:deliveryId/retry", async (c) => {
  const row = await visibleEndpoint(c, "write");
  const deliveryId = deliveryIdParam(c);
  await retryDeliveryNow(services(c), row, deliveryId);
  return c.redirect(`${webhookPath(row.id, `/deliveries/${deliveryId}`)}?done=retried`, 303);
});

portalRouter.get("/webhooks/:id/stats", async (c) => {
  const row = await visibleEndpoint(c, "read");
  const asked = c.req.query("window") ?? "24h";
  const window: StatsWindow = (STATS_WINDOW_NAMES as string[]).includes(asked) ? (asked as StatsWindow) : "24h";
  const stats = await endpointStats(services(c), row, window, services(c).now());
  return renderPage(c, "Stats", <StatsPage view={view(c)} row={row} stats={stats} />);
});

// ---- Recover and replay ----
// Screens for POST /webhooks/{id}/recover and /replay go here once the domain has those functions:
// a time-window form, the count of deliveries it affects, and a confirm button, each calling the domain function.

portalRouter.get("/events", (c) => {
  requireAccess(view(c).principal, "read");
  return renderPage(c, "Event catalog", <EventCatalog view={view(c, "events")} />);
});

portalRouter.all("*", (c) =>
  renderPage(c, "Not found", <Message title="Not found" text="There is no page at this address." home />, 404),
);
