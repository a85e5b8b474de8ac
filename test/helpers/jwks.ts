// A JWKS of the test's own, served by the real local receiver (test/helpers/jwks-server.ts) and steered from here, and
// the ES256 keys to sign tokens with.
import { env } from "cloudflare:workers";
import { type JWK, SignJWT } from "jose";
import type { JwksControl, JwksState } from "./jwks-server";
import { receiverBase } from "./receiver";

export interface SigningKey {
  kid: string;
  publicJwk: JWK;
  privateKey: CryptoKey;
}

export async function generateSigningKey(kid: string): Promise<SigningKey> {
  const pair = (await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, [
    "sign",
    "verify",
  ])) as CryptoKeyPair;
  const publicJwk = (await crypto.subtle.exportKey("jwk", pair.publicKey)) as JWK;
  return { kid, publicJwk: { ...publicJwk, kid, alg: "ES256", use: "sig" }, privateKey: pair.privateKey };
}

/** An admin token signed by `key`, issued at `atMs` (the Worker's clock in the test) and valid for 5 minutes. */
export function signAt(key: SigningKey, atMs: number, opts: { kid?: string } = {}): Promise<string> {
  const iat = Math.floor(atMs / 1000);
  return new SignJWT({ role: "super_admin", scope: "admin:read" })
    .setProtectedHeader({ alg: "ES256", kid: opts.kid ?? key.kid })
    .setIssuer(`${env.JWT_ISSUER}tenants/tnt_jwks`)
    .setAudience(env.JWT_AUDIENCE)
    .setSubject("usr_jwks")
    .setIssuedAt(iat)
    .setExpirationTime(iat + 300)
    .sign(key.privateKey);
}

export const keySet = (keys: SigningKey[]) => ({ keys: keys.map((k) => k.publicJwk) });

let counter = 0;

/** A JWKS at a URL of its own (the Worker caches key sets per URL and isolate), up and serving `keys`. */
export async function controlledJwks(keys: SigningKey[]) {
  const name = `set-${Date.now().toString(36)}-${(counter++).toString(36)}`;
  const controlUrl = `${receiverBase()}/jwks-control/${name}`;
  const control = async (change?: JwksControl): Promise<JwksState> => {
    const res = await fetch(controlUrl, change ? { method: "POST", body: JSON.stringify(change) } : {});
    if (!res.ok) throw new Error(`JWKS control answered ${res.status}: ${await res.text()}`);
    return res.json();
  };
  await control({ mode: "up", jwks: keySet(keys) });
  return {
    url: `${receiverBase()}/jwks/${name}`,
    control,
    /** How many times the JWKS was asked for, counted by the server. */
    fetches: async () => (await control()).fetches,
  };
}
