// One small structured logger: one JSON line per call, picked up by Workers Logs (`observability` in wrangler.toml).
// Callers pass identifiers and outcomes only: never secrets, tokens or payload bodies.
export type LogFields = Record<
  string,
  string | number | boolean | null | undefined | readonly number[] | readonly string[]
>;

export const LOG_LEVELS = ["debug", "info", "warn", "error"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
const rank: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };

// Per isolate, set from LOG_LEVEL when the service container is built (configureLogger).
let lowest = rank.info;

/** Lines below `level` are not written (the record of each delivery attempt always is). */
export function configureLogger(level: LogLevel): void {
  lowest = rank[level];
}

/** Whether a line at `level` would be written: callers skip building what would be dropped. */
export const logs = (level: LogLevel) => rank[level] >= lowest;

function write(level: LogLevel, msg: string, fields: LogFields): void {
  const line = JSON.stringify({ level, msg, ...fields });
  if (level === "error") console.error(line);
  else if (level === "warn") console.warn(line);
  else console.log(line);
}

export const logger = {
  debug: (msg: string, fields: LogFields = {}) => void (logs("debug") && write("debug", msg, fields)),
  info: (msg: string, fields: LogFields = {}) => void (logs("info") && write("info", msg, fields)),
  warn: (msg: string, fields: LogFields = {}) => void (logs("warn") && write("warn", msg, fields)),
  error: (msg: string, fields: LogFields = {}) => write("error", msg, fields),
  /** An info line written whatever LOG_LEVEL says: the one line per delivery attempt operations rely on. */
  record: (msg: string, fields: LogFields) => write("info", msg, fields),
};
