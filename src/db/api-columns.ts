// A table's columns as the API names, shows and takes them: under the column's own (snake_case) name, with the type
// drizzle-zod derives from the column; a stored integer is shown as an integer, and one named `*_at` (milliseconds since
// the epoch, schema.ts) as an ISO 8601 string. Used to declare the API's view of a table once (domain/webhook-fields.ts).
import { z } from "@hono/zod-openapi";
import { type Column, getTableColumns, type Table } from "drizzle-orm";
import { toIso } from "../lib/time";

type ColumnsOf<T extends Table> = T["_"]["columns"];
export type ColumnKey<T extends Table> = Extract<keyof ColumnsOf<T>, string>;
/** The API's name of a column: its name in the table. */
export type ApiName<T extends Table, K extends ColumnKey<T>> = ColumnsOf<T>[K]["_"]["name"];
type IntegerKey<T extends Table> = {
  [K in ColumnKey<T>]: ColumnsOf<T>[K]["_"]["dataType"] extends "number" ? K : never;
}[ColumnKey<T>];

const isInteger = (column: Column) => column.dataType === "number";
const isTimestamp = (column: Column) => isInteger(column) && column.name.endsWith("_at");

/**
 * drizzle-zod refinements (createSelectSchema) showing every integer column of `table` as the API does: a timestamp
 * as a string (ISO 8601), any other as an integer (drizzle-zod's own bounds it by the safe integers).
 */
export function integersAsShown<T extends Table>(
  table: T,
): { [K in IntegerKey<T>]: () => ApiName<T, K> extends `${string}_at` ? z.ZodString : z.ZodNumber } {
  const columns = Object.entries(getTableColumns(table)).filter(([, column]) => isInteger(column));
  return Object.fromEntries(
    columns.map(([key, column]) => [key, () => (isTimestamp(column) ? z.string() : z.number().int())]),
  ) as never;
}

/** The fields `keys` of a drizzle-zod `shape` of `table`, in that order, under their API names. */
export function apiShape<T extends Table, S extends z.ZodRawShape, K extends ColumnKey<T> & keyof S>(
  table: T,
  shape: S,
  keys: readonly K[],
): { [P in K as ApiName<T, P>]: S[P] } {
  const columns = getTableColumns(table);
  return Object.fromEntries(keys.map((key) => [columns[key]!.name, shape[key]])) as never;
}

/**
 * apiShape of a drizzle-zod insert schema with refinements. drizzle-zod 0.8 makes a refined field optional at run time
 * when a create may leave it out (a nullable column, or one with a default), but leaves the optional out of its type.
 */
export function apiInsertShape<T extends Table, S extends z.ZodRawShape, K extends ColumnKey<T> & keyof S>(
  table: T,
  shape: S,
  keys: readonly K[],
): { [P in K as ApiName<T, P>]: OptionalInInsert<ColumnsOf<T>[P], S[P]> } {
  return apiShape(table, shape, keys) as never;
}
type OptionalInInsert<C extends Column, S> = C["_"]["notNull"] extends true
  ? C["_"]["hasDefault"] extends true
    ? z.ZodOptional<S & z.ZodType>
    : S
  : z.ZodOptional<S & z.ZodType>;

/** The column behind each API name of `table`. */
function columnsByName(table: Table): Map<string, { key: string; column: Column }> {
  return new Map(Object.entries(getTableColumns(table)).map(([key, column]) => [column.name, { key, column }]));
}

/**
 * A reader of `table`'s rows as the API shows them: an object of the API names `names`, in that order, each its
 * column's value as shown (a timestamp as ISO 8601), or what `computed[name]` makes of the row (and of `context`, what
 * the caller knows beside the row). Each name is resolved to its column here, once, not for every row shown.
 */
export function shownRowOf<R extends Record<string, unknown>, C = undefined>(
  table: Table,
  names: readonly string[],
  computed: Readonly<Record<string, (row: R, context: C) => unknown>> = {},
): (row: R, context?: C) => Record<string, unknown> {
  const byName = columnsByName(table);
  const readers = names.map((name): [string, (row: R, context: C) => unknown] => {
    const compute = computed[name];
    if (compute) return [name, compute];
    const found = byName.get(name);
    if (!found) throw new Error(`no column ${name} in the table`);
    const { key, column } = found;
    return [name, isTimestamp(column) ? (row) => toIso(row[key] as number | null) : (row) => row[key]];
  });
  return (row, context) => {
    const shown: Record<string, unknown> = {};
    for (const [name, read] of readers) shown[name] = read(row, context as C);
    return shown;
  };
}

/** The given values of API names `names` (undefined ones left out) as the columns' values, by column key. */
export function storedValuesOf<T extends Table>(
  table: T,
  input: Record<string, unknown>,
  names: readonly string[],
): Partial<T["$inferInsert"]> {
  const byName = columnsByName(table);
  const values: Record<string, unknown> = {};
  for (const name of names) {
    const found = byName.get(name);
    if (!found) throw new Error(`no column ${name} in the table`);
    if (input[name] !== undefined) values[found.key] = input[name];
  }
  return values as Partial<T["$inferInsert"]>;
}
