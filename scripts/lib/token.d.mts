// Types of token.mjs, for the TypeScript tests that import it.
export type Role = "super_admin" | "partner_admin" | "tenant_admin";
export declare const ROLES: Role[];
export declare function issuerFor(issuerPrefix: string, tenant?: string | null): string;
export interface MintOptions {
  key: string | CryptoKey;
  alg?: string;
  kid?: string;
  role?: Role | null;
  tenant?: string | null;
  partner?: string | null;
  scope?: string;
  platform?: boolean;
  subject?: string;
  issuer?: string;
  issuerPrefix?: string;
  audience?: string;
  /** jose's setExpirationTime: a span from now ("1h") or the absolute `exp` in seconds. */
  expiration?: number | string;
}
export declare function mintToken(options: MintOptions): Promise<string>;
