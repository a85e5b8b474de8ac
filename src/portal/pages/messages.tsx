// Whole-page messages: the event catalog, link and session problems, errors.
import type { FC } from "hono/jsx";
import { catalogByGroup, exampleEnvelope } from "../../domain/event-examples";
import type { PortalView } from "../context";
import { p } from "../layout";

export const EventCatalog: FC<{ view: PortalView }> = ({ view }) => (
  <>
    <h1>Event catalog</h1>
    <p class="muted">
      Every event type you can subscribe to. Subscribe to a whole group with <code>group.*</code>, or to everything with{" "}
      <code>*</code>.
    </p>
    {catalogByGroup(view.session).map(([group, types]) => (
      <section class="card" aria-labelledby={`g-${group}`}>
        <h2 id={`g-${group}`}>{group}</h2>
        {types.map((t) => (
          <details class="group">
            <summary>
              <code>{t.type}</code> <span class="muted small">— {t.description}</span>
            </summary>
            <pre tabindex={0}>
              {JSON.stringify(
                exampleEnvelope(t, { tenantId: view.session.tenantId, partnerId: view.session.partnerId }),
                null,
                2,
              )}
            </pre>
          </details>
        ))}
      </section>
    ))}
  </>
);

export const Message: FC<{ title: string; text: string; home?: boolean }> = ({ title, text, home }) => (
  <div class="center card">
    <h1>{title}</h1>
    <p>{text}</p>
    {home && (
      <a class="btn" href={p("")}>
        Back to endpoints
      </a>
    )}
  </div>
);

export const SigningIn: FC<{ nonce: string }> = () => (
  <div class="center card">
    <h1>Signing you in…</h1>
    <p>
      <a class="btn primary" href={p("")}>
        Continue to the portal
      </a>
    </p>
  </div>
);
