import { Webhook } from "standardwebhooks";
import { afterEach, describe, expect, it, vi } from "vitest";
import { generateSigningSecret, signScaiKey, signStandardWebhooks } from "../../src/domain/signing";
import { verifyScaiKeySignature } from "../helpers/verify-scaikey-signature";

const SECRET_A = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const SECRET_B = "whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="; // base64 of bytes 0..31
const BODY = '{"actor":{"id":null,"type":"system"},"event_id":"evt_a3f9k2bWqL8Hn5pZ","event_type":"tenant.created"}';
const UNICODE_BODY = '{"name":"zoë 😀"}';
const TS = 1747584000;
const MSG_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek";

// Expected values computed with CPython 3.11:
//   hmac.new(secret.encode(), f"{ts}.{body}".encode(), hashlib.sha256).hexdigest()
//   base64.b64encode(hmac.new(base64.b64decode(secret[6:]), f"{msg_id}.{ts}.{body}".encode(), hashlib.sha256).digest())
const SCAIKEY_HEX_A = "e2beecdef7116f7568a36a1d05893e98d694c857cd56d2c500a15eaa7ce99cec";
const SCAIKEY_HEX_B = "eb0bd8ab5f60233089beda4e69bfe7afeea3a626dc53d6ef3cadaf57a066584c";
const SCAIKEY_HEX_A_UNICODE = "8bff3286989e3e447e863039520a5886103f5ae3232bac1ec1491ba8811f068d";
const STANDARD_B64_A = "xEkSdkMZcBM3dHA7M2p8/RgI2y98b6IPdYANDf5syTg=";
const STANDARD_B64_B = "cg9cSWsm4UVQXiBe6Lcd44+YdShcAmXrARHq/zV+Bss=";
const STANDARD_B64_A_UNICODE = "Zd5aL9jyppsecyAN2Oa3JEMPSpk+LJJ3QJeuHU2e63s=";

/** ScaiKey's receivers today (Python): a dict of the header parts, so only the LAST v1 survives. */
async function pythonStyleReceiverAccepts(secret: string, header: string, body: string, nowSeconds: number) {
  const parts = new Map<string, string>();
  for (const part of header.split(",")) {
    const eq = part.indexOf("=");
    if (eq >= 0) parts.set(part.slice(0, eq), part.slice(eq + 1));
  }
  const t = parts.get("t");
  const v1 = parts.get("v1");
  if (t === undefined || v1 === undefined || Math.abs(nowSeconds - Number.parseInt(t, 10)) > 300) return false;
  const key = await crypto.subtle.importKey(
    "raw",
    new TextEncoder().encode(secret),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  const mac = new Uint8Array(await crypto.subtle.sign("HMAC", key, new TextEncoder().encode(`${t}.${body}`)));
  return [...mac].map((b) => b.toString(16).padStart(2, "0")).join("") === v1;
}

const nowSeconds = () => Math.floor(Date.now() / 1000);

afterEach(() => {
  vi.restoreAllMocks();
});

describe("generateSigningSecret", () => {
  it("returns whsec_ + base64 of 32 random bytes, different every time", () => {
    const secrets = new Set(Array.from({ length: 50 }, () => generateSigningSecret()));
    expect(secrets.size).toBe(50);
    for (const secret of secrets) {
      expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
      expect(atob(secret.slice("whsec_".length))).toHaveLength(32);
    }
  });

  it("is accepted as a secret by the standardwebhooks library", () => {
    expect(() => new Webhook(generateSigningSecret())).not.toThrow();
  });
});

describe("signScaiKey", () => {
  it("matches Python's hmac over `{t}.{body}` keyed by the whole secret string", async () => {
    expect(await signScaiKey([SECRET_A], TS, BODY)).toBe(`t=${TS},v1=${SCAIKEY_HEX_A}`);
    expect(await signScaiKey([SECRET_B], TS, BODY)).toBe(`t=${TS},v1=${SCAIKEY_HEX_B}`);
  });

  it("signs the UTF-8 bytes of the body", async () => {
    expect(await signScaiKey([SECRET_A], TS, UNICODE_BODY)).toBe(`t=${TS},v1=${SCAIKEY_HEX_A_UNICODE}`);
  });

  it("puts one v1 per secret, in the order given, with no spaces (rotation: current, previous)", async () => {
    const header = await signScaiKey([SECRET_B, SECRET_A], TS, BODY);
    expect(header).toBe(`t=${TS},v1=${SCAIKEY_HEX_B},v1=${SCAIKEY_HEX_A}`);
    expect(header).toMatch(/^t=\d+(,v1=[0-9a-f]{64})+$/);
  });

  it("rejects what receivers could never verify: no secret, a fractional or negative timestamp", async () => {
    await expect(signScaiKey([], TS, BODY)).rejects.toThrow(/secret/);
    await expect(signScaiKey([SECRET_A], 1747584000.5, BODY)).rejects.toThrow(/integer/);
    await expect(signScaiKey([SECRET_A], -1, BODY)).rejects.toThrow(/integer/);
  });

  it("imports each secret's key once and reuses it", async () => {
    const importKey = vi.spyOn(crypto.subtle, "importKey");
    const secret = generateSigningSecret();
    await signScaiKey([secret], TS, BODY);
    await signScaiKey([secret], TS + 1, BODY);
    await Promise.all([signScaiKey([secret], TS, "a"), signScaiKey([secret], TS, "b")]);
    expect(importKey).toHaveBeenCalledTimes(1);
  });

  it("keeps the key cache bounded: a secret pushed out by 1000 newer ones is imported again", async () => {
    const first = generateSigningSecret();
    await signScaiKey([first], TS, BODY);
    for (let i = 0; i < 1000; i++) await signScaiKey([generateSigningSecret()], TS, BODY);
    const importKey = vi.spyOn(crypto.subtle, "importKey");
    const header = await signScaiKey([first], TS, BODY);
    expect(importKey).toHaveBeenCalledTimes(1);
    expect(await verifyScaiKeySignature(first, header, BODY, TS)).toBe(true);
  });
});

describe("rotation as ScaiKey's current receivers see it", () => {
  it("a receiver that keeps only the last v1 still verifies with the previous secret", async () => {
    const now = nowSeconds();
    const header = await signScaiKey([SECRET_B, SECRET_A], now, BODY); // B is new, A is previous
    expect(await pythonStyleReceiverAccepts(SECRET_A, header, BODY, now)).toBe(true);
  });

  it("but that same receiver, once switched to the new secret, fails until the previous one is dropped", async () => {
    const now = nowSeconds();
    const during = await signScaiKey([SECRET_B, SECRET_A], now, BODY);
    expect(await pythonStyleReceiverAccepts(SECRET_B, during, BODY, now)).toBe(false);
    const after = await signScaiKey([SECRET_B], now, BODY);
    expect(await pythonStyleReceiverAccepts(SECRET_B, after, BODY, now)).toBe(true);
  });

  it("the reference receiver accepts any matching v1, so both secrets verify during rotation", async () => {
    const now = nowSeconds();
    const header = await signScaiKey([SECRET_B, SECRET_A], now, BODY);
    expect(await verifyScaiKeySignature(SECRET_A, header, BODY, now)).toBe(true);
    expect(await verifyScaiKeySignature(SECRET_B, header, BODY, now)).toBe(true);
    expect(await verifyScaiKeySignature(generateSigningSecret(), header, BODY, now)).toBe(false);
  });
});

describe("verifyScaiKeySignature", () => {
  const header = `t=${TS},v1=${SCAIKEY_HEX_A}`;

  it("accepts the known-answer header and rejects a changed body or the wrong secret", async () => {
    expect(await verifyScaiKeySignature(SECRET_A, header, BODY, TS)).toBe(true);
    expect(await verifyScaiKeySignature(SECRET_A, header, `${BODY} `, TS)).toBe(false);
    expect(await verifyScaiKeySignature(SECRET_B, header, BODY, TS)).toBe(false);
  });

  it("rejects timestamps more than the tolerance away, in either direction", async () => {
    expect(await verifyScaiKeySignature(SECRET_A, header, BODY, TS + 300)).toBe(true);
    expect(await verifyScaiKeySignature(SECRET_A, header, BODY, TS - 300)).toBe(true);
    expect(await verifyScaiKeySignature(SECRET_A, header, BODY, TS + 301)).toBe(false);
    expect(await verifyScaiKeySignature(SECRET_A, header, BODY, TS - 301)).toBe(false);
    expect(await verifyScaiKeySignature(SECRET_A, header, BODY, TS + 60, 30)).toBe(false);
  });

  it("parses the header the way the receivers do: no spaces, integer t, lowercase hex", async () => {
    const cases = [
      `t=${TS}, v1=${SCAIKEY_HEX_A}`,
      `t=${TS}.0,v1=${SCAIKEY_HEX_A}`,
      `t=+${TS},v1=${SCAIKEY_HEX_A}`,
      `t=${TS},v1=${SCAIKEY_HEX_A.toUpperCase()}`,
      `v1=${SCAIKEY_HEX_A}`,
      `t=${TS}`,
      `t=${TS},v1=`,
      `t=${TS},v1=${SCAIKEY_HEX_A}0`,
      "",
      "garbage",
    ];
    for (const bad of cases) expect(await verifyScaiKeySignature(SECRET_A, bad, BODY, TS), bad).toBe(false);
  });

  it("ignores unknown parts and junk v1 entries next to a good one", async () => {
    const mixed = `t=${TS},v0=abc,v1=zz,v1=${SCAIKEY_HEX_B},v1=${SCAIKEY_HEX_A},x`;
    expect(await verifyScaiKeySignature(SECRET_A, mixed, BODY, TS)).toBe(true);
  });
});

describe("signStandardWebhooks", () => {
  it("matches Python's hmac over `{id}.{t}.{body}` keyed by the base64-decoded secret", async () => {
    expect(await signStandardWebhooks([SECRET_A], MSG_ID, TS, BODY)).toBe(`v1,${STANDARD_B64_A}`);
    expect(await signStandardWebhooks([SECRET_B], MSG_ID, TS, BODY)).toBe(`v1,${STANDARD_B64_B}`);
    expect(await signStandardWebhooks([SECRET_A], MSG_ID, TS, UNICODE_BODY)).toBe(`v1,${STANDARD_B64_A_UNICODE}`);
  });

  it("space-separates one entry per secret in the order given", async () => {
    expect(await signStandardWebhooks([SECRET_B, SECRET_A], MSG_ID, TS, BODY)).toBe(
      `v1,${STANDARD_B64_B} v1,${STANDARD_B64_A}`,
    );
  });

  it("agrees with the standardwebhooks library's own signer", async () => {
    const secret = generateSigningSecret();
    const ours = await signStandardWebhooks([secret], MSG_ID, TS, UNICODE_BODY);
    expect(ours).toBe(new Webhook(secret).sign(MSG_ID, new Date(TS * 1000), UNICODE_BODY));
  });

  it("verifies with the standardwebhooks library for one secret", async () => {
    const secret = generateSigningSecret();
    const timestamp = nowSeconds();
    const signature = await signStandardWebhooks([secret], MSG_ID, timestamp, BODY);
    const headers = { "webhook-id": MSG_ID, "webhook-timestamp": String(timestamp), "webhook-signature": signature };
    expect(new Webhook(secret).verify(BODY, headers)).toEqual(JSON.parse(BODY));
    expect(() => new Webhook(generateSigningSecret()).verify(BODY, headers)).toThrow(/No matching signature/);
    expect(() => new Webhook(secret).verify(`${BODY} `, headers)).toThrow(/No matching signature/);
  });

  it("verifies with the standardwebhooks library for each of two secrets alone", async () => {
    const current = generateSigningSecret();
    const previous = generateSigningSecret();
    const timestamp = nowSeconds();
    const signature = await signStandardWebhooks([current, previous], MSG_ID, timestamp, BODY);
    const headers = { "webhook-id": MSG_ID, "webhook-timestamp": String(timestamp), "webhook-signature": signature };
    expect(new Webhook(current).verify(BODY, headers)).toEqual(JSON.parse(BODY));
    expect(new Webhook(previous).verify(BODY, headers)).toEqual(JSON.parse(BODY));
  });

  it("rejects a secret that is not base64 after whsec_", async () => {
    await expect(signStandardWebhooks(["whsec_not*base64!"], MSG_ID, TS, BODY)).rejects.toThrow(/base64/);
    await expect(signStandardWebhooks(["whsec_"], MSG_ID, TS, BODY)).rejects.toThrow(/base64/);
  });
});
