// One-time results of a POST, shown by the page it redirects to and never again (POST → redirect → GET): a new secret,
// a test's outcome, a recovery's answer, a notice. Kept server-side in the session row (domain/portal-sessions.ts),
// sealed, never in the URL, so a reload neither repeats the action nor shows the result twice. Sessions live in shard 0,
// whatever shard the page's endpoint is in (db/shards.ts).

import { onShard } from "../db/shards";
import { setPortalFlash, takePortalFlash } from "../domain/portal-sessions";
import type { RecoveryResult } from "../domain/recovery";
import type { PortalContext } from "./context";

export interface TestOutcome {
  eventType: string;
  success: boolean;
  statusCode: number | null;
  durationMs: number;
  error: string | null;
  errorClass: string | null;
  responseExcerpt: string | null;
  deliveryId: number;
}

export type Flash =
  | { kind: "notice"; text: string; tone: "ok" | "warn" }
  | { kind: "secret"; title: string; secret: string; previousUntil: number | null }
  | { kind: "test"; outcome: TestOutcome }
  | { kind: "enabled"; missed: number; disabledAt: number | null }
  | { kind: "recovery"; recovery: "recover" | "replay"; result: RecoveryResult };

/** Leaves `flash` for `path` and answers with the redirect there (303: the browser follows with a GET). */
export async function redirectWithFlash(c: PortalContext, path: string, flash: Flash) {
  const { db, secretBox } = onShard(c.var.services, 0);
  await setPortalFlash(db, secretBox, c.var.portal!.session.id, path, JSON.stringify(flash));
  return c.redirect(path, 303);
}

/** The flash left for this page, if any; taken, so a reload does not show it again. */
export async function takeFlash(c: PortalContext): Promise<Flash | null> {
  const { db, secretBox } = onShard(c.var.services, 0);
  const text = await takePortalFlash(db, secretBox, c.var.portal!.session, new URL(c.req.url).pathname);
  return text === null ? null : (JSON.parse(text) as Flash);
}
