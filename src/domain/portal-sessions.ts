// Portal sessions: a single-use magic link that becomes a cookie session, and the principal that session acts as.
// Tokens are 256-bit random strings handed out once; only their SHA-256 hashes are stored, so a leaked table opens nothing.
import { and, eq, gt, isNull } from "drizzle-orm";
import type { Principal } from "../auth/principal";
import type { Database } from "../db/client";
import { type PortalSessionRow, portalSessions } from "../db/schema";
import { newPortalSessionId } from "../lib/ids";
import type { SecretBox } from "../lib/secret-box";

export const PORTAL_LINK_MIN_SECONDS = 60;
export const PORTAL_LINK_MAX_SECONDS = 86_400;
export const PORTAL_LINK_DEFAULT_SECONDS = 3_600;
/** How long a session lasts once its link is opened (a working day; the platform issues a new link after that). */
export const PORTAL_SESSION_TTL_MS = 12 * 3_600_000;
/** Rows deleted per retention chunk. */
const PORTAL_RETENTION_CHUNK = 500;

const base64url = (bytes: Uint8Array) =>
  btoa(String.fromCharCode(...bytes))
    .replace(/\+/g, "-")
    .replace(/\//g, "_")
    .replace(/=+$/, "");

function newPortalToken(): string {
  return base64url(crypto.getRandomValues(new Uint8Array(32)));
}

export async function hashPortalToken(token: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(token));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

export interface PortalGrant {
  tenantId: string | null;
  partnerId: string | null;
  readOnly: boolean;
}

/** Stores a new link; the returned token goes into the URL and is never stored. */
export async function issuePortalLink(
  db: Database,
  grant: PortalGrant,
  issuedBy: string,
  expiresInSeconds: number,
  now: number,
): Promise<{ id: string; token: string; expiresAt: number }> {
  const token = newPortalToken();
  const id = newPortalSessionId();
  const expiresAt = now + expiresInSeconds * 1000;
  await db.insert(portalSessions).values({
    id,
    linkHash: await hashPortalToken(token),
    tenantId: grant.tenantId,
    partnerId: grant.partnerId,
    readOnly: grant.readOnly,
    createdBy: issuedBy,
    createdAt: now,
    linkExpiresAt: expiresAt,
    expiresAt,
  });
  return { id, token, expiresAt };
}

export type RedeemResult =
  | { ok: true; sessionToken: string; session: PortalSessionRow }
  | { ok: false; reason: "unknown" | "used" | "expired" };

/**
 * Opens a link: one conditional UPDATE, so of two concurrent openings exactly one gets the session.
 * A link that does not open says why (the portal shows a page for each reason).
 */
export async function redeemPortalLink(db: Database, linkToken: string, now: number): Promise<RedeemResult> {
  const linkHash = await hashPortalToken(linkToken);
  const sessionToken = newPortalToken();
  const [session] = await db
    .update(portalSessions)
    .set({ sessionHash: await hashPortalToken(sessionToken), redeemedAt: now, expiresAt: now + PORTAL_SESSION_TTL_MS })
    .where(
      and(
        eq(portalSessions.linkHash, linkHash),
        isNull(portalSessions.redeemedAt),
        gt(portalSessions.linkExpiresAt, now),
      ),
    )
    .returning();
  if (session) return { ok: true, sessionToken, session };
  const row = await db.query.portalSessions.findFirst({ where: eq(portalSessions.linkHash, linkHash) });
  if (!row) return { ok: false, reason: "unknown" };
  return { ok: false, reason: row.redeemedAt !== null ? "used" : "expired" };
}

/** The live session of a cookie's token, or null (unknown, expired or ended). */
export async function findPortalSession(
  db: Database,
  sessionToken: string,
  now: number,
): Promise<PortalSessionRow | null> {
  if (!sessionToken) return null;
  const row = await db.query.portalSessions.findFirst({
    where: and(eq(portalSessions.sessionHash, await hashPortalToken(sessionToken)), gt(portalSessions.expiresAt, now)),
  });
  return row ?? null;
}

export async function endPortalSession(db: Database, sessionId: string, now: number): Promise<void> {
  await db.update(portalSessions).set({ expiresAt: now }).where(eq(portalSessions.id, sessionId));
}

/**
 * The principal a session acts as: a token without a role holding the webhooks:* grants of its tenant (or partner), so
 * every portal action runs through the same requireAccess / visibilityOf / canSee rules as an API call with such a
 * token (a role would authorise writes whatever the scopes). A tenant session names no partner: the tenant directory
 * says whose tenant it is, and a session is not ScaiKey's statement of it.
 */
export function portalPrincipal(session: PortalSessionRow): Principal {
  return {
    subject: `portal:${session.id}`,
    role: null,
    tenantId: session.tenantId,
    partnerId: session.tenantId ? null : session.partnerId,
    scopes: new Set(session.readOnly ? ["webhooks:read"] : ["webhooks:read", "webhooks:write"]),
    platformToken: false,
    issuedByOwnTenant: false,
  };
}

// A flash is stored as `<path>\n<sealed text>`: the page it is for in clear, so that only that page takes it, and the
// text sealed (it may hold a new signing secret) and bound to the session.
const FLASH_SEPARATOR = "\n";
// Clears exactly the flash the request read (RETURNING would give the cleared value): of two takers, one changes the row.
const TAKE_FLASH = "UPDATE portal_sessions SET flash = NULL WHERE id = ?1 AND flash = ?2";

/** Leaves a one-time result for the next GET of `path` (a POST's answer redirects there); replaces any earlier one. */
export async function setPortalFlash(
  db: Database,
  secretBox: SecretBox,
  sessionId: string,
  path: string,
  text: string,
): Promise<void> {
  const sealed = await secretBox.seal(text, `flash:${sessionId}`);
  await db
    .update(portalSessions)
    .set({ flash: `${path}${FLASH_SEPARATOR}${sealed}` })
    .where(eq(portalSessions.id, sessionId));
}

/**
 * The flash left for `path`, taken (cleared) in one conditional UPDATE, so it shows once even to concurrent requests;
 * null when there is none for this page. Costs no query unless the session row holds one for this page.
 */
export async function takePortalFlash(
  db: Database,
  secretBox: SecretBox,
  session: Pick<PortalSessionRow, "id" | "flash">,
  path: string,
): Promise<string | null> {
  const key = `${path}${FLASH_SEPARATOR}`;
  if (!session.flash?.startsWith(key)) return null;
  const { meta } = await db.$client.prepare(TAKE_FLASH).bind(session.id, session.flash).run();
  if (meta.changes !== 1) return null;
  return secretBox.open(session.flash.slice(key.length), `flash:${session.id}`);
}

/** The CSRF token of a session: derived from the secret session token, so it needs no storage and no other page can know it. */
export async function csrfTokenFor(sessionToken: string): Promise<string> {
  return (await hashPortalToken(`csrf:${sessionToken}`)).slice(0, 43);
}

export async function isValidCsrfToken(sessionToken: string, submitted: string | undefined): Promise<boolean> {
  if (!submitted) return false;
  const expected = await csrfTokenFor(sessionToken);
  if (submitted.length !== expected.length) return false;
  let diff = 0;
  for (let i = 0; i < expected.length; i++) diff |= expected.charCodeAt(i) ^ submitted.charCodeAt(i);
  return diff === 0;
}

/** Deletes sessions and links past their expiry, oldest first, in bounded chunks (the retention job's time box). */
export async function purgeExpiredPortalSessions(db: Database, now: number, maxChunks = 20): Promise<number> {
  let deleted = 0;
  for (let chunk = 0; chunk < maxChunks; chunk++) {
    const { meta } = await db.$client
      .prepare(
        "DELETE FROM portal_sessions WHERE id IN (SELECT id FROM portal_sessions WHERE expires_at < ?1 ORDER BY expires_at LIMIT ?2)",
      )
      .bind(now, PORTAL_RETENTION_CHUNK)
      .run();
    deleted += meta.changes;
    if (meta.changes < PORTAL_RETENTION_CHUNK) break;
  }
  return deleted;
}
