// Command-line parsing shared by the harnesses and scripts: node:util's parseArgs, a usage text on -h/--help or on a
// mistake (exit 2), and range checks that name the flag. Node builtins only.
import { parseArgs } from "node:util";

/**
 * The parsed `--flag value` options (parseArgs `options`, plus -h/--help), or exits: 0 after printing `usage` for
 * --help, 2 after printing it with the parse error.
 */
export function parseCli({ usage, options, argv = process.argv.slice(2), name = "error", allowNegative = false }) {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: { ...options, help: { type: "boolean", short: "h", default: false } },
      allowPositionals: false,
      allowNegative,
    }));
  } catch (err) {
    process.stderr.write(`${usage}\n${name}: ${err.message}\n`);
    process.exit(2);
  }
  if (values.help) {
    process.stdout.write(usage.endsWith("\n") ? usage : `${usage}\n`);
    process.exit(0);
  }
  return values;
}

/** Exits 2 with "--<flag> …" on stderr. */
export function usageError(message) {
  process.stderr.write(`${message}\n`);
  process.exit(2);
}

/** Option `name` of `values` as an integer in [lo, hi], or exits 2. */
export function intOption(values, name, lo, hi) {
  const n = Number(values[name]);
  if (!Number.isInteger(n) || n < lo || n > hi) usageError(`--${name} must be an integer from ${lo} to ${hi}`);
  return n;
}

/** Option `name` of `values` as a number in [lo, hi], or exits 2. */
export function numberOption(values, name, lo, hi) {
  const n = Number(values[name]);
  if (values[name] === undefined || values[name] === "" || !(n >= lo && n <= hi))
    usageError(`--${name} must be a number from ${lo} to ${hi}`);
  return n;
}

/** A progress line on stderr, prefixed with the tool's name and the seconds since `startedAt`. */
export function progressNote(tool, startedAt = Date.now()) {
  return (line) => process.stderr.write(`[${tool} +${((Date.now() - startedAt) / 1000).toFixed(0)}s] ${line}\n`);
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
