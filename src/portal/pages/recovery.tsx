// Recover (failed deliveries again) and replay (events the endpoint never got): a window picked in UTC, the count the
// job will send shown before confirming, then the API's own recoverDeliveries / replayEvents.
import type { FC } from "hono/jsx";
import type { WebhookEndpointRow } from "../../db/schema";
import type { RecentHealth, RecoveryProgress } from "../../domain/portal-queries";
import type { PortalView } from "../context";
import { CsrfField, InputField, plural, Time, webhookPath } from "../layout";
import { toPickerValue } from "../time-input";
import { EnableForm, EndpointHeader, RecoveryJobs } from "./endpoints";

export type RecoveryKindName = "recover" | "replay";

export interface RecoveryFormState {
  since: number | null;
  until: number | null;
  errors: { since?: string; until?: string };
  /** The count the job would send now, once the window is valid. */
  preview: { count: number; since: number; until: number } | null;
}

const TEXT = {
  recover: {
    title: "Recover failed deliveries",
    intro:
      "Send again every delivery of this endpoint created in the window that failed for good, or was cancelled " +
      "because the endpoint was off. Succeeded, pending and retrying deliveries are left alone, so doing it twice sends nothing twice.",
    sinceLabel: "Failed since (UTC)",
    noun: (n: number) => `resend ${plural(n, "delivery", "deliveries")}`,
    confirm: "Recover",
  },
  replay: {
    title: "Replay missed events",
    intro:
      "Send every stored event of the window this endpoint subscribes to and never got: published while it was off, " +
      "before it existed, or before it subscribed to the type. One delivery per event, ever: doing it twice sends nothing twice.",
    sinceLabel: "Published since (UTC)",
    noun: (n: number) => `send ${plural(n, "missed event")}`,
    confirm: "Replay",
  },
} as const;

export const RecoveryPage: FC<{
  view: PortalView;
  row: WebhookEndpointRow;
  health: RecentHealth | undefined;
  kind: RecoveryKindName;
  state: RecoveryFormState;
  jobs: RecoveryProgress[];
}> = ({ view, row, health, kind, state, jobs }) => {
  const text = TEXT[kind];
  const path = webhookPath(row.id, `/${kind}`);
  const { errors, preview } = state;
  return (
    <>
      <EndpointHeader row={row} view={view} current={kind} health={health} />
      <h2>{text.title}</h2>
      <p class="muted">{text.intro}</p>
      <RecoveryJobs jobs={jobs} />
      <form method="get" action={path} class="card filters" aria-label="Window">
        <InputField
          id="r-since"
          name="since"
          label={text.sinceLabel}
          type="datetime-local"
          required
          value={toPickerValue(state.since)}
          error={errors.since}
        />
        <InputField
          id="r-until"
          name="until"
          label="Until (UTC, empty: now)"
          type="datetime-local"
          value={toPickerValue(state.until)}
          error={errors.until}
        />
        <div class="actions">
          <button class="btn" type="submit">
            Count
          </button>
        </div>
      </form>
      {preview && (
        <section class="card" aria-labelledby="preview-h" id="preview">
          <h2 id="preview-h">This will {text.noun(preview.count)}</h2>
          <p class="muted">
            Window <Time at={preview.since} /> to <Time at={preview.until} />.
          </p>
          {!row.enabled ? (
            <div class="notice warn" role="status">
              <p>The endpoint is off: enable it first, then come back here.</p>
              {!view.session.readOnly && <EnableForm view={view} row={row} />}
            </div>
          ) : preview.count === 0 ? (
            <p>Nothing to send in this window.</p>
          ) : (
            !view.session.readOnly && (
              <form method="post" action={path} class="actions">
                <CsrfField view={view} />
                <input type="hidden" name="since" value={new Date(preview.since).toISOString()} />
                <input type="hidden" name="until" value={new Date(preview.until).toISOString()} />
                <button class="btn primary" type="submit" data-busy="Starting…">
                  {text.confirm}: {text.noun(preview.count)}
                </button>
              </form>
            )
          )}
        </section>
      )}
    </>
  );
};
