// An event's payload as D1 stores it (events.payload and its partitions): the deflate-raw of its text as a BLOB when
// that is smaller, else the text itself. Events are WITHOUT ROWID tables, whose rows past about 1 KB spill to an
// overflow page of their own (4 KB): a typical 1 KiB payload compresses to about 600 bytes, so its event stays one
// row's bytes instead of five. The column keeps TEXT affinity, which stores a BLOB as it is, so rows written before
// (text) and after (BLOB) read alike: the stored type says which it is. In memory a payload is always its text.

import type { EventRow } from "./schema";

/** A payload as a D1 result gives it: the text, or the compressed bytes (a BLOB). */
export type StoredPayload = string | ArrayBuffer | Uint8Array | number[];

/** An events table's columns as raw SQL selects them, named as drizzle's EventRow (a partition is named at run time). */
export const EVENT_COLUMNS = `owner_key AS ownerKey, event_id AS eventId, event_type AS eventType, tenant_id AS tenantId,
  partner_id AS partnerId, payload, created_at AS createdAt`;
/** A row selected with EVENT_COLUMNS: its payload as stored. */
export type StoredEventRow = Omit<EventRow, "payload"> & { payload: StoredPayload };

/** Payloads shorter than this are stored as text: compressing them saves too little to pay for the work. */
const COMPRESS_FROM_BYTES = 256;

const encoder = new TextEncoder();

/** What to bind for `text` in events.payload: its deflate-raw bytes if they are smaller, else the text. */
export async function storedPayload(text: string): Promise<string | Uint8Array> {
  if (text.length < COMPRESS_FROM_BYTES) return text;
  const raw = encoder.encode(text);
  const packed = await transform(raw, new CompressionStream("deflate-raw"));
  return packed.length < raw.length ? packed : text;
}

/** The payload's text, from what events.payload holds (the exact bytes that were signed and sent). */
export async function payloadText(stored: StoredPayload): Promise<string> {
  if (typeof stored === "string") return stored;
  const bytes = stored instanceof Uint8Array ? stored : new Uint8Array(stored);
  return new TextDecoder().decode(await transform(bytes, new DecompressionStream("deflate-raw")));
}

/** `rows` with their `payload` turned into its text (for StoredEventRows: EventRows). */
export async function withPayloadText<T extends { payload: StoredPayload }>(
  rows: readonly T[],
): Promise<(Omit<T, "payload"> & { payload: string })[]> {
  return Promise.all(rows.map(async (row) => ({ ...row, payload: await payloadText(row.payload) })));
}

async function transform(input: Uint8Array, stream: CompressionStream | DecompressionStream): Promise<Uint8Array> {
  const writer = stream.writable.getWriter();
  const reader = stream.readable.getReader();
  const chunks: Uint8Array[] = [];
  const reading = (async () => {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      chunks.push(value);
    }
  })();
  // Written and read together: a stream's buffers are small, and either side's error is this call's.
  await Promise.all([writer.write(input).then(() => writer.close()), reading]);
  if (chunks.length === 1) return chunks[0]!;
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}
