// Times typed into the portal's pickers and URLs. The portal shows every time in UTC, so a date and time without a zone
// (what <input type="datetime-local"> sends) is UTC; a full ISO time with its zone and the relative spans of the quick
// links (1h, 24h, 7d, 30d) are accepted too, so since=/until= work when typed into the address bar.
export const RELATIVE_SPANS = { "1h": 3_600_000, "24h": 86_400_000, "7d": 7 * 86_400_000, "30d": 30 * 86_400_000 };

const LOCAL_FORM = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?$/;
const ZONED_FORM = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/i;

/** The instant a picker or URL value names, or null when it names none. */
export function parseTimeInput(value: string, now: number): number | null {
  const v = value.trim();
  if (v in RELATIVE_SPANS) return now - RELATIVE_SPANS[v as keyof typeof RELATIVE_SPANS];
  const t = LOCAL_FORM.test(v) ? Date.parse(`${v}Z`) : ZONED_FORM.test(v) ? Date.parse(v) : Number.NaN;
  return Number.isFinite(t) ? t : null;
}

/** An instant as a datetime-local value, in UTC, to the minute. */
export const toPickerValue = (ms: number | null) => (ms === null ? "" : new Date(ms).toISOString().slice(0, 16));
