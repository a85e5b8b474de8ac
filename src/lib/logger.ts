// One small structured logger: one JSON line per call, picked up by Workers Logs (`observability` in wrangler.toml).
// Callers pass identifiers and outcomes only: never secrets, tokens or payload bodies.
export type LogFields = Record<string, string | number | boolean | null | undefined | readonly number[]>;

function write(level: "info" | "warn" | "error", msg: string, fields: LogFields): void {
  const line = JSON.stringify({ level, msg, ...fields });
  if (level === "error") console.error(line);
  else if (level === "warn") console.warn(line);
  else console.log(line);
}

export const logger = {
  info: (msg: string, fields: LogFields = {}) => write("info", msg, fields),
  warn: (msg: string, fields: LogFields = {}) => write("warn", msg, fields),
  error: (msg: string, fields: LogFields = {}) => write("error", msg, fields),
};
