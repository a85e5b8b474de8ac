// The page frame and the small components every screen shares. hono/jsx escapes every interpolated value;
// nothing here uses raw HTML, so a tenant's URL, header or payload can only ever show as text.
import type { Child, FC, PropsWithChildren } from "hono/jsx";
import type { PortalContext, PortalView } from "./context";
import { PORTAL_BASE } from "./context";

export const p = (path = "") => `${PORTAL_BASE}${path}`;
export const webhookPath = (id: string, rest = "") => p(`/webhooks/${encodeURIComponent(id)}${rest}`);

const Logo = () => (
  <svg
    width="22"
    height="22"
    viewBox="0 0 24 24"
    aria-hidden="true"
    fill="none"
    stroke="currentColor"
    stroke-width="2.2"
    stroke-linecap="round"
  >
    <path d="M4 12a8 8 0 0 1 14-5.3M20 12a8 8 0 0 1-14 5.3" />
    <path d="M18 3v4h-4M6 21v-4h4" />
  </svg>
);

const Layout: FC<PropsWithChildren<{ title: string; nonce: string; view: PortalView | null }>> = ({
  title,
  nonce,
  view,
  children,
}) => (
  <html lang="en">
    <head>
      <meta charset="utf-8" />
      <meta name="viewport" content="width=device-width, initial-scale=1" />
      <title>{`${title} · Webhooks`}</title>
      <link rel="icon" href={p("/assets/favicon.svg")} type="image/svg+xml" />
      <link rel="stylesheet" href={p("/assets/portal.css")} />
      <script nonce={nonce} src={p("/assets/portal.js")} defer></script>
    </head>
    <body>
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header class="top">
        <div class="bar">
          <a class="brand" href={view ? p("") : "#main"}>
            <Logo />
            Webhooks
          </a>
          {view && (
            <>
              <nav class="main" aria-label="Main">
                <a href={p("")} aria-current={view.section === "endpoints" ? "page" : undefined}>
                  Endpoints
                </a>
                <a href={p("/deliveries")} aria-current={view.section === "deliveries" ? "page" : undefined}>
                  Deliveries
                </a>
                <a href={p("/events")} aria-current={view.section === "events" ? "page" : undefined}>
                  Event catalog
                </a>
              </nav>
              <div class="who">
                <span>
                  {view.session.tenantId ? `Tenant ${view.session.tenantId}` : `Partner ${view.session.partnerId}`}
                </span>
                {view.session.readOnly && <span class="badge b-idle">Read-only</span>}
                <form method="post" action={p("/logout")} class="inline">
                  <input type="hidden" name="_csrf" value={view.csrf} />
                  <button class="btn" type="submit">
                    Sign out
                  </button>
                </form>
              </div>
            </>
          )}
        </div>
      </header>
      <main id="main" tabindex={-1}>
        {children}
      </main>
    </body>
  </html>
);

/** Renders a full page (doctype, security headers are set by the middleware). */
export async function renderPage(
  c: PortalContext,
  title: string,
  body: Child,
  status: 200 | 201 | 400 | 401 | 403 | 404 | 409 | 410 | 422 | 500 = 200,
) {
  const page = (
    <Layout title={title} nonce={c.var.nonce} view={c.var.portal}>
      {body}
    </Layout>
  );
  return c.html(`<!doctype html>${await page.toString()}`, status);
}

export const CsrfField: FC<{ view: PortalView }> = ({ view }) => <input type="hidden" name="_csrf" value={view.csrf} />;

/** A time, shown in UTC like every time in the portal (charts and pickers too); the script adds the viewer's local
 * time as a tooltip. */
export const Time: FC<{ at: string | number | null | undefined; empty?: string }> = ({ at, empty = "—" }) => {
  if (at === null || at === undefined) return <span class="muted">{empty}</span>;
  const iso = typeof at === "number" ? new Date(at).toISOString() : at;
  return <time datetime={iso}>{iso.replace("T", " ").replace(/:\d\d(\.\d+)?Z$/, " UTC")}</time>;
};

/** "1 attempt", "2 attempts". */
export const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

/** A duration as people read it: "230 ms" below a second, "15.0 s" from there. */
export const duration = (ms: number | null | undefined) =>
  ms === null || ms === undefined ? "—" : ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`;

const STATUS_LOOK: Record<string, { cls: string; label: string }> = {
  active: { cls: "b-ok", label: "Active" },
  failing: { cls: "b-fail", label: "Failing" },
  disabled: { cls: "b-idle", label: "Disabled" },
  auto_disabled: { cls: "b-bad", label: "Auto-disabled" },
  success: { cls: "b-ok", label: "Succeeded" },
  failed: { cls: "b-bad", label: "Failed" },
  retrying: { cls: "b-warn", label: "Retrying" },
  pending: { cls: "b-idle", label: "Pending" },
  cancelled: { cls: "b-idle", label: "Cancelled" },
};

export const Badge: FC<{ status: string }> = ({ status }) => {
  const look = STATUS_LOOK[status] ?? { cls: "b-idle", label: status };
  return <span class={`badge ${look.cls}`}>{look.label}</span>;
};

export const Crumbs: FC<{ items: [string, string | null][] }> = ({ items }) => (
  <p class="crumbs">
    {items.map(([label, href], i) => (
      <>
        {i > 0 && " / "}
        {href ? <a href={href}>{label}</a> : <span>{label}</span>}
      </>
    ))}
  </p>
);

export const Empty: FC<PropsWithChildren<{ title: string }>> = ({ title, children }) => (
  <div class="empty">
    <h2>{title}</h2>
    {children}
  </div>
);

export const Pager: FC<{
  page: number;
  pages: number;
  total: number;
  href: (page: number) => string;
  noun: string;
}> = ({ page, pages, total, href, noun }) => (
  <nav class="pager" aria-label="Pagination">
    <span class="muted small">
      {total} {noun}
      {pages > 1 ? ` · page ${page} of ${pages}` : ""}
    </span>
    <span class="actions">
      {page > 1 && (
        <a class="btn" href={href(page - 1)} rel="prev">
          ← Newer
        </a>
      )}
      {page < pages && (
        <a class="btn" href={href(page + 1)} rel="next">
          Older →
        </a>
      )}
    </span>
  </nav>
);

export const percent = (rate: number | null) => (rate === null ? "—" : `${(rate * 100).toFixed(rate === 1 ? 0 : 1)}%`);

/** A copy button for the element `target` (it appears only with script). */
export const CopyButton: FC<{ target: string; label?: string }> = ({ target, label = "Copy" }) => (
  <button class="btn" type="button" data-copy={target} hidden>
    {label}
  </button>
);

/** Shows a one-time secret with a copy button. */
export const SecretBox: FC<{ secret: string; title: string; children?: Child }> = ({ secret, title, children }) => (
  <div class="notice warn" role="status">
    <h2>{title}</h2>
    {children}
    <p>Copy it now: it is shown only this once, and not again on reload. Receivers verify signatures with it.</p>
    <div class="secret">
      <code id="secret-value">{secret}</code>
      <CopyButton target="secret-value" />
    </div>
  </div>
);

/** A labelled form field with its error under it. */
export const Field: FC<{ id: string; label: string; error?: string; children: Child }> = ({
  id,
  label,
  error,
  children,
}) => (
  <div class="field">
    <label for={id}>{label}</label>
    {children}
    {error && (
      <p class="error-text" id={`${id}-error`}>
        {error}
      </p>
    )}
  </div>
);

/** A labelled input, marked invalid and described by its error when it has one. */
export const InputField: FC<{
  id: string;
  name: string;
  label: string;
  value: string;
  error?: string;
  type?: "text" | "datetime-local";
  placeholder?: string;
  inputmode?: "numeric";
  required?: boolean;
}> = ({ id, name, label, value, error, type = "text", placeholder, inputmode, required }) => (
  <Field id={id} label={label} error={error}>
    <input
      id={id}
      name={name}
      type={type}
      value={value}
      placeholder={placeholder}
      inputmode={inputmode}
      required={required}
      aria-invalid={error ? "true" : undefined}
      aria-describedby={error ? `${id}-error` : undefined}
    />
  </Field>
);
