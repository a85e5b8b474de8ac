import { describe, expect, it } from "vitest";
import { createSecretBox, generateMasterKeyEntry, parseKeyring } from "../../src/lib/secret-box";

const k1 = generateMasterKeyEntry("k1");
const k2 = generateMasterKeyEntry("k2");
const SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw3Dq2r8Gk6ho=";

describe("secret box", () => {
  it("round-trips, never stores the plaintext, and uses a fresh IV each time", async () => {
    const box = createSecretBox(k1);
    const a = await box.seal(SECRET, "wh_1");
    const b = await box.seal(SECRET, "wh_1");
    expect(a).toMatch(/^enc:v1:k1:[A-Za-z0-9+/=]+:[A-Za-z0-9+/=]+$/);
    expect(a).not.toContain("MfKQ9r8");
    expect(a).not.toBe(b);
    expect(await box.open(a, "wh_1")).toBe(SECRET);
  });

  it("binds the ciphertext to its row: a value copied to another endpoint does not open", async () => {
    const box = createSecretBox(k1);
    await expect(box.open(await box.seal(SECRET, "wh_1"), "wh_2")).rejects.toThrow();
  });

  it("rotates the master key without downtime: old values open while the old key is listed", async () => {
    const sealedUnderK1 = await createSecretBox(k1).seal(SECRET, "wh_1");
    const rotated = createSecretBox(`${k2},${k1}`);
    expect(await rotated.open(sealedUnderK1, "wh_1")).toBe(SECRET);
    expect(await rotated.activePrefix()).toBe("enc:v1:k2:");
    const resealed = await rotated.seal(SECRET, "wh_1");
    expect(resealed.startsWith("enc:v1:k2:")).toBe(true);
    await expect(createSecretBox(k2).open(sealedUnderK1, "wh_1")).rejects.toThrow(/key "k1"/);
  });

  it("reads secrets stored before encryption as they are", async () => {
    const box = createSecretBox(k1);
    expect(await box.open(SECRET, "wh_1")).toBe(SECRET);
    // A legacy value opens even where no key is configured yet.
    expect(await createSecretBox(undefined).open(SECRET, "wh_1")).toBe(SECRET);
  });

  it("refuses to seal without a key, and explains malformed keys", async () => {
    await expect(createSecretBox(undefined).seal(SECRET, "wh_1")).rejects.toThrow(/not configured/);
    await expect(parseKeyring("nokey")).rejects.toThrow(/<id>:<base64 key>/);
    await expect(parseKeyring("k1:c2hvcnQ=")).rejects.toThrow(/32 bytes/);
    await expect(parseKeyring("k1:!!!")).rejects.toThrow(/base64/);
    await expect(parseKeyring(`${k1},${k1}`)).rejects.toThrow(/twice/);
  });
});
