// Signing secrets are stored sealed (AES-GCM), legacy plaintext rows keep working and get rewritten, and the master
// key rotates without downtime.
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { attemptDelivery } from "../../src/domain/delivery/attempt";
import { reencryptSecrets } from "../../src/domain/reencrypt-secrets";
import { createSecretBox, generateMasterKeyEntry } from "../../src/lib/secret-box";
import { api, createWebhook, WEBHOOKS } from "../helpers/api";
import { db, deliveryDeps, scaiKeyReceiverAccepts, seedDelivery } from "../helpers/deliveries";
import { hookUrl, recorded } from "../helpers/receiver";
import { tenantAdmin } from "../helpers/tokens";

const storedSecrets = (id: string) =>
  env.DB.prepare("SELECT secret, previous_secret FROM webhook_endpoints WHERE id = ?")
    .bind(id)
    .first<{ secret: string; previous_secret: string | null }>();

async function deliverAndVerify(
  webhookId: string,
  hookKey: string,
  secret: string,
  deps = deliveryDeps({ now: Date.now() }),
) {
  await attemptDelivery(deps, await seedDelivery(webhookId, "tnt_rest"));
  const requests = await recorded(hookKey);
  return scaiKeyReceiverAccepts(requests.at(-1)!, secret);
}

describe("signing secrets at rest", () => {
  it("stores only the sealed secret, never the plaintext, and never returns it after creation", async () => {
    const hook = hookUrl();
    const token = await tenantAdmin("tnt_rest");
    const wh = await createWebhook(token, { url: hook.url, events: ["*"] });
    const stored = await storedSecrets(wh.id);
    expect(stored!.secret).toMatch(/^enc:v1:test-k1:/);
    expect(stored!.secret).not.toContain(wh.secret.slice(6, 20));
    expect(JSON.stringify((await api("GET", `${WEBHOOKS}/${wh.id}`, { token })).body)).not.toContain("enc:v1");
    expect(await deliverAndVerify(wh.id, hook.key, wh.secret)).toBe(true);

    const rotated = await api("POST", `${WEBHOOKS}/${wh.id}/rotate-secret`, { token });
    const afterRotation = await storedSecrets(wh.id);
    expect(afterRotation!.secret).toMatch(/^enc:v1:/);
    expect(afterRotation!.previous_secret).toBe(stored!.secret);
    // Both secrets sign during the grace period; the reference receiver reads the last v1, the previous secret's.
    expect(rotated.body.secret).not.toBe(wh.secret);
    expect(await deliverAndVerify(wh.id, hook.key, wh.secret)).toBe(true);
  });

  it("delivers with secrets stored before encryption, then rewrites them sealed", async () => {
    const hook = hookUrl();
    const wh = await createWebhook(await tenantAdmin("tnt_rest"), { url: hook.url, events: ["*"] });
    await env.DB.prepare("UPDATE webhook_endpoints SET secret = ? WHERE id = ?").bind(wh.secret, wh.id).run(); // a legacy row
    expect(await deliverAndVerify(wh.id, hook.key, wh.secret)).toBe(true);

    const services = { db: db(), secretBox: createSecretBox(env.SECRET_ENCRYPTION_KEY) };
    expect((await reencryptSecrets(services)).rewritten).toBeGreaterThanOrEqual(1);
    expect((await storedSecrets(wh.id))!.secret).toMatch(/^enc:v1:test-k1:/);
    expect(await deliverAndVerify(wh.id, hook.key, wh.secret)).toBe(true);
    expect((await reencryptSecrets(services)).rewritten).toBe(0); // idempotent
  });

  it("rotates the master key: list the new key first, re-encrypt, then drop the old one", async () => {
    const hook = hookUrl();
    const token = await tenantAdmin("tnt_rest");
    const wh = await createWebhook(token, { url: hook.url, events: ["*"] });
    await api("POST", `${WEBHOOKS}/${wh.id}/rotate-secret`, { token }); // a previous secret to carry over too
    const newKey = generateMasterKeyEntry("k2");
    const during = createSecretBox(`${newKey},${env.SECRET_ENCRYPTION_KEY}`);
    // While both keys are listed, rows under either key deliver.
    expect(
      await deliverAndVerify(wh.id, hook.key, wh.secret, { ...deliveryDeps({ now: Date.now() }), secretBox: during }),
    ).toBe(true);
    while ((await reencryptSecrets({ db: db(), secretBox: during })).rewritten > 0);
    const stored = await storedSecrets(wh.id);
    expect(stored!.secret).toMatch(/^enc:v1:k2:/);
    expect(stored!.previous_secret).toMatch(/^enc:v1:k2:/);
    const after = { ...deliveryDeps({ now: Date.now() }), secretBox: createSecretBox(newKey) };
    expect(await deliverAndVerify(wh.id, hook.key, wh.secret, after)).toBe(true); // old secret still in its grace period
  });
});
