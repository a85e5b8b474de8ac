// events.payload as stored: compressed when that is smaller, read back byte for byte whatever D1 hands back for a BLOB,
// and rows stored as text before compression existed read alike.
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { payloadText, storedPayload } from "../../src/db/payload";

// Numbers as a Python sender writes them (1.0, a 20-digit int): only text keeps them.
const names = JSON.stringify(Array.from({ length: 30 }, (_, i) => `user ${i} café ✓`));
const big = `{"event_id":"evt_01JDX4K7Q9W2M3N5P8R0T6V1YZ","data":{"n":1.0,"big":12345678901234567890,"names":${names}}}`;

describe("stored payloads", () => {
  it("compresses a large payload and reads it back exactly through D1", async () => {
    const stored = await storedPayload(big);
    expect(stored).toBeInstanceOf(Uint8Array);
    expect((stored as Uint8Array).length).toBeLessThan(new TextEncoder().encode(big).length / 2);
    const row = await env.DB.prepare("SELECT ?1 AS payload, typeof(?1) AS type").bind(stored).first<{
      payload: ArrayBuffer;
      type: string;
    }>();
    expect(row!.type).toBe("blob");
    expect(await payloadText(row!.payload)).toBe(big);
  });

  it("keeps a small or incompressible payload as text, which reads as itself", async () => {
    expect(await storedPayload('{"a":1}')).toBe('{"a":1}');
    const noise = JSON.stringify({
      pad: Array.from(crypto.getRandomValues(new Uint8Array(300)), (b) => String.fromCharCode(0x4e00 + b)).join(""),
    });
    const stored = await storedPayload(noise);
    expect(await payloadText(stored)).toBe(noise);
    expect(await payloadText('{"old":"text row"}')).toBe('{"old":"text row"}');
  });
});
