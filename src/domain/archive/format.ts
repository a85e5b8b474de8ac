// The archive's formats: what a chunk object holds, how it is named, and the keys of the D1 rows that index it.
//
// A chunk is one NDJSON object of one kind (deliveries or events) and one hour: a header line, then lines grouped by
// scope (a webhook for deliveries, an owner for events) in key order. The header says where each scope's lines are
// (byte offset and length from the object's start, and how many), so a reader fetches the header, then that range.
import { DAY_MS, HOUR_MS } from "../../db/partitions";
import type { ArchiveKind, DeliveryStatus, ErrorClass } from "../../db/schema";
import { CANCELLED_ENDPOINT_DISABLED } from "../delivery/claim";

export interface ChunkHeader {
  v: 1;
  kind: ArchiveKind;
  /** Each scope's lines: [byte offset, byte length, lines]. */
  sections: Record<string, [number, number, number]>;
}

/** A chunk as written: its bytes, the header's length, and its sections. */
export interface BuiltChunk {
  body: Uint8Array;
  headerBytes: number;
  sections: ChunkHeader["sections"];
  /** Lines in the chunk. */
  lines: number;
}

const encoder = new TextEncoder();

/**
 * Builds a chunk from lines already grouped by scope and in order. The header is written first with offsets counted
 * from its own length; since the offsets change its length, it is measured until it holds still (two or three passes).
 */
export function buildChunk(
  kind: ArchiveKind,
  groups: readonly [scope: string, lines: readonly string[]][],
): BuiltChunk {
  const encoded = groups.map(([scope, lines]) => [scope, lines.map((l) => encoder.encode(`${l}\n`))] as const);
  let headerBytes = 0;
  let header: ChunkHeader = { v: 1, kind, sections: {} };
  let headerText = "";
  for (;;) {
    let offset = headerBytes;
    header = { v: 1, kind, sections: {} };
    for (const [scope, lines] of encoded) {
      const length = lines.reduce((n, l) => n + l.length, 0);
      header.sections[scope] = [offset, length, lines.length];
      offset += length;
    }
    headerText = `${JSON.stringify(header)}\n`;
    const measured = encoder.encode(headerText).length;
    if (measured === headerBytes) break;
    headerBytes = measured;
  }
  const parts = [encoder.encode(headerText), ...encoded.flatMap(([, lines]) => lines)];
  const body = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    body.set(p, at);
    at += p.length;
  }
  return { body, headerBytes, sections: header.sections, lines: encoded.reduce((n, [, l]) => n + l.length, 0) };
}

/** The key of a chunk: `<kind>/<hour>/<ref>.ndjson`, where a ref is a chunk number or `L…` for the long tables'. */
export const chunkKey = (kind: ArchiveKind, hour: number, ref: string) => `${kind}/${hour}/${ref}.ndjson`;
/** The key of a day's event-id index once it outgrows its archive_days row. */
export const dayIndexKey = (scope: string, day: number) => `index/${scope}/${day}.json`;

export const dayOf = (ms: number) => Math.floor(ms / DAY_MS);
const hourOfDay = (hour: number) => hour % 24;
const firstHourOfDay = (day: number) => day * 24;
/**
 * The entry key of a section in an archive_days row: `<hour of day>/<chunk ref>`, or only the hour for chunk 0 (most
 * sections: a webhook's lines of an hour fit one chunk), which keeps a sparse webhook's day row short.
 */
export const entryKey = (hour: number, ref: string) =>
  ref === "0" ? `${hourOfDay(hour)}` : `${hourOfDay(hour)}/${ref}`;
export const parseEntryKey = (day: number, key: string) => {
  const slash = key.indexOf("/");
  if (slash === -1) return { hour: firstHourOfDay(day) + Number(key), ref: "0" };
  return { hour: firstHourOfDay(day) + Number(key.slice(0, slash)), ref: key.slice(slash + 1) };
};
export const hourStartMs = (hour: number) => hour * HOUR_MS;

/**
 * The error-class slot of a delivery cancelled because its webhook was disabled (recover sends those again): no real
 * class is spelt so. A cancel keeps the class of the attempt before it, if any: `~disabled:<class>` then.
 */
const CANCELLED_DISABLED_CLASS = "~disabled";

/** The list's filter values of one archived delivery, as one key: `status|event_type|status_code|error_class`. */
export const comboOf = (d: {
  status: DeliveryStatus;
  event_type: string;
  last_status_code: number | null;
  last_error_class: ErrorClass | null;
  last_error: string | null;
}) => {
  const cancelledDisabled = d.status === "cancelled" && d.last_error === CANCELLED_ENDPOINT_DISABLED;
  const errorClass = cancelledDisabled
    ? `${CANCELLED_DISABLED_CLASS}${d.last_error_class === null ? "" : `:${d.last_error_class}`}`
    : (d.last_error_class ?? "");
  return `${d.status}|${d.event_type}|${d.last_status_code ?? ""}|${errorClass}`;
};

export const parseCombo = (combo: string) => {
  const [status, eventType, code, errorSlot] = combo.split("|") as [DeliveryStatus, string, string, string];
  const cancelledDisabled = errorSlot.startsWith(CANCELLED_DISABLED_CLASS);
  const errorClass = cancelledDisabled ? errorSlot.slice(CANCELLED_DISABLED_CLASS.length + 1) : errorSlot;
  return {
    status,
    eventType,
    statusCode: code === "" ? null : Number(code),
    errorClass: errorClass === "" ? null : (errorClass as ErrorClass),
    /** Cancelled because its webhook was disabled: recover sends it again. */
    cancelledDisabled,
  };
};

/** Past this many lines in a day, a scope's event-id hashes move from its archive_days row to R2. */
export const INLINE_HASHES_PER_DAY = 64;

/**
 * An event id's hash in the archive's indexes: the low 24 bits of its FNV-1a. Enough to skip every section that cannot
 * hold the id: a section of n lines matches another id once in 16.7M / n, which costs only reading that section.
 */
export function eventIdHash(eventId: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < eventId.length; i++) {
    h ^= eventId.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h & 0xffffff;
}

const BASE64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
const packHash = (h: number) =>
  BASE64URL[(h >> 18) & 63]! + BASE64URL[(h >> 12) & 63]! + BASE64URL[(h >> 6) & 63]! + BASE64URL[h & 63]!;

/** A section's event id hashes as an index stores them: four base64url characters each (a JSON array would take 11). */
export const packHashes = (hashes: readonly number[]) => hashes.map(packHash).join("");

/** Whether packed hashes hold `hash`. */
export function packedHashesHold(packed: string, hash: number): boolean {
  const code = packHash(hash);
  for (let i = 0; i < packed.length; i += 4) if (packed.startsWith(code, i)) return true;
  return false;
}

/** Reads a chunk's header (the first line), given its length. */
export async function readChunkHeader(
  archive: R2Bucket,
  key: string,
  headerBytes: number,
): Promise<ChunkHeader | null> {
  const object = await archive.get(key, { range: { offset: 0, length: headerBytes } });
  if (!object) return null;
  return JSON.parse(await object.text()) as ChunkHeader;
}

/** Reads one section's lines, parsed. */
export async function readSection<T>(archive: R2Bucket, key: string, [offset, length]: [number, number, number]) {
  const object = await archive.get(key, { range: { offset, length } });
  if (!object) return [] as T[];
  return (await object.text())
    .split("\n")
    .filter((l) => l !== "")
    .map((l) => JSON.parse(l) as T);
}
