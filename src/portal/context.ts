// What the portal's middleware puts on the context: the session, the principal it acts as, the CSRF token and the CSP nonce.
import type { Context } from "hono";
import type { Principal } from "../auth/principal";
import type { PortalSessionRow } from "../db/schema";
import type { AppEnv } from "../lib/services";

export interface PortalView {
  session: PortalSessionRow;
  principal: Principal;
  csrf: string;
  /** Where the page is, for the navigation's aria-current. */
  section?: "endpoints" | "deliveries" | "events";
}

export interface PortalEnv {
  Bindings: AppEnv["Bindings"];
  Variables: AppEnv["Variables"] & { nonce: string; portal: PortalView | null };
}

export type PortalContext = Context<PortalEnv>;

export const SESSION_COOKIE = "__Host-scaikey-portal";
export const PORTAL_BASE = "/portal";
