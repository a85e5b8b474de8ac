// The per-isolate cache of signing keys: each sealed secret is opened once, keys are never shared between secrets or
// rows, and a rotation drops the secrets that stop signing.
import { env } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import { buildDeliveryHeaders } from "../../../src/domain/delivery/request";
import { forgetSigningKeys, hasSigningKeys, signingKeysOf } from "../../../src/domain/delivery/signing-keys";
import { generateSigningSecret } from "../../../src/domain/signing";
import { getVisibleWebhook, rotateWebhookSecret } from "../../../src/domain/webhooks";
import { createSecretBox } from "../../../src/lib/secret-box";
import { createWebhook } from "../../helpers/api";
import { db } from "../../helpers/deliveries";
import { hookUrl } from "../../helpers/receiver";
import { tenantAdmin } from "../../helpers/tokens";
import { verifyScaiKeySignature } from "../../helpers/verify-scaikey-signature";

const BODY = '{"event_type":"user.created"}';

async function scaiKeyHeader(keys: Awaited<ReturnType<typeof signingKeysOf>>[], timestamp: number) {
  const headers = await buildDeliveryHeaders({
    deliveryId: 1,
    eventId: "evt_1",
    eventType: "user.created",
    body: BODY,
    keys,
    timestamp,
    customHeaders: {},
  });
  return headers["X-ScaiKey-Signature"]!;
}

describe("signing keys cache", () => {
  it("opens a sealed secret once per isolate, also when asked concurrently", async () => {
    const box = createSecretBox(env.SECRET_ENCRYPTION_KEY);
    const sealed = await box.seal(generateSigningSecret(), "wh_once");
    const open = vi.spyOn(box, "open");
    const [a, b] = await Promise.all([signingKeysOf(box, sealed, "wh_once"), signingKeysOf(box, sealed, "wh_once")]);
    const c = await signingKeysOf(box, sealed, "wh_once");
    expect(open).toHaveBeenCalledTimes(1);
    expect(b).toBe(a);
    expect(c).toBe(a);
  });

  it("never reuses one secret's keys for another: each signature verifies with its own secret only", async () => {
    const box = createSecretBox(env.SECRET_ENCRYPTION_KEY);
    const [secretA, secretB] = [generateSigningSecret(), generateSigningSecret()];
    const keysA = await signingKeysOf(box, await box.seal(secretA, "wh_a"), "wh_a");
    const keysB = await signingKeysOf(box, await box.seal(secretB, "wh_b"), "wh_b");
    expect(keysB).not.toBe(keysA);
    const ts = Math.floor(Date.now() / 1000);
    const [headerA, headerB] = [await scaiKeyHeader([keysA], ts), await scaiKeyHeader([keysB], ts)];
    expect(await verifyScaiKeySignature(secretA, headerA, BODY, ts)).toBe(true);
    expect(await verifyScaiKeySignature(secretB, headerB, BODY, ts)).toBe(true);
    expect(await verifyScaiKeySignature(secretA, headerB, BODY, ts)).toBe(false);
    expect(await verifyScaiKeySignature(secretB, headerA, BODY, ts)).toBe(false);
  });

  it("keys an entry by row as well: a sealed value presented for another row is opened (and refused) afresh", async () => {
    const box = createSecretBox(env.SECRET_ENCRYPTION_KEY);
    const sealed = await box.seal(generateSigningSecret(), "wh_row1");
    await signingKeysOf(box, sealed, "wh_row1");
    await expect(signingKeysOf(box, sealed, "wh_row2")).rejects.toThrow();
    // A failure is not cached.
    expect(await hasSigningKeys(box, sealed, "wh_row2")).toBe(false);
  });

  it("serves keys only to the box that opened them: a box without the master key cannot sign a cached secret", async () => {
    const box = createSecretBox(env.SECRET_ENCRYPTION_KEY);
    const sealed = await box.seal(generateSigningSecret(), "wh_box");
    await signingKeysOf(box, sealed, "wh_box");
    await expect(signingKeysOf(createSecretBox(undefined), sealed, "wh_box")).rejects.toThrow(/SECRET_ENCRYPTION_KEY/);
  });

  it("forgets the given secrets only", async () => {
    const box = createSecretBox(env.SECRET_ENCRYPTION_KEY);
    const [kept, dropped] = [
      await box.seal(generateSigningSecret(), "wh_f"),
      await box.seal(generateSigningSecret(), "wh_f"),
    ];
    await signingKeysOf(box, kept, "wh_f");
    await signingKeysOf(box, dropped, "wh_f");
    await forgetSigningKeys(box, [dropped, null], "wh_f");
    expect(await hasSigningKeys(box, kept, "wh_f")).toBe(true);
    expect(await hasSigningKeys(box, dropped, "wh_f")).toBe(false);
  });

  it("rotation evicts the secrets that stop signing: the previous one at once without grace, the one before it with grace", async () => {
    const box = createSecretBox(env.SECRET_ENCRYPTION_KEY);
    const token = await tenantAdmin("tnt_keys");
    const created = await createWebhook(token, { url: hookUrl().url, events: ["*"] });
    const visibility = { kind: "all" } as const;
    const row = async () => getVisibleWebhook(db(), created.id, visibility);

    const first = await row();
    await signingKeysOf(box, first.secret, first.id);
    const now = Date.now();
    await rotateWebhookSecret(db(), box, first, 3600, now); // first keeps signing during the grace period
    const second = await row();
    expect(second.previousSecret).toBe(first.secret);
    expect(await hasSigningKeys(box, first.secret, first.id)).toBe(true);
    await signingKeysOf(box, second.secret, second.id);

    await rotateWebhookSecret(db(), box, second, 0, now + 1); // no grace: both first and second stop signing
    const third = await row();
    expect(third.previousSecret).toBeNull();
    expect(await hasSigningKeys(box, first.secret, first.id)).toBe(false);
    expect(await hasSigningKeys(box, second.secret, second.id)).toBe(false);
    // The new secret signs, and is opened from its new sealed value.
    const keys = await signingKeysOf(box, third.secret, third.id);
    expect(keys).not.toBe(await signingKeysOf(box, first.secret, first.id));
  });
});
