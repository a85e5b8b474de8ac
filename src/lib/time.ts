/** Milliseconds since the epoch → ISO 8601 UTC, the API's only time format. */
export const toIso = (ms: number | null | undefined): string | null => (ms == null ? null : new Date(ms).toISOString());
