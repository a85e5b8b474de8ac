import { fillPlaceholders } from "drizzle-orm";
import { type D1PreparedQuery, type DrizzleD1Database, drizzle } from "drizzle-orm/d1";
import * as schema from "./schema";

/** drizzle over D1; `$client` is the raw binding, for the few statements drizzle cannot express (batched raw SQL). */
export type Database = DrizzleD1Database<typeof schema> & { $client: D1Database };

export const createDb = (d1: D1Database): Database => drizzle(d1, { schema });

/**
 * `build(db)` made once per database (a drizzle instance lives as long as its isolate's bindings): for the prepared
 * queries of the hot reads, whose SQL drizzle then builds once instead of on every request.
 */
export function oncePerDatabase<T>(build: (db: Database) => T): (db: Database) => T {
  const built = new WeakMap<Database, T>();
  return (db) => {
    let value = built.get(db);
    if (value === undefined) {
      value = build(db);
      built.set(db, value);
    }
    return value;
  };
}

/** A prepared drizzle read (`.prepare()` of a select): its SQL and how drizzle maps its rows. */
interface PreparedRead<Row> {
  all(values?: Record<string, unknown>): Promise<Row[]>;
}

/**
 * Prepared reads run in one D1 batch (one round trip, as `db.batch` would), with the same placeholder `values`; each
 * result is mapped as drizzle maps it.
 */
export async function allInOneBatch<A, B>(
  db: Database,
  queries: [PreparedRead<A>, PreparedRead<B>],
  values: Record<string, unknown>,
): Promise<[A[], B[]]> {
  const prepared = queries as unknown as D1PreparedQuery[];
  const results = await db.$client.batch(
    prepared.map((q) => {
      const { sql, params } = q.getQuery();
      return db.$client.prepare(sql).bind(...fillPlaceholders(params, values));
    }),
  );
  return prepared.map((q, i) => q.mapAllResult(results[i], true)) as [A[], B[]];
}
