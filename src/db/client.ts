import { type DrizzleD1Database, drizzle } from "drizzle-orm/d1";
import * as schema from "./schema";

/** drizzle over D1; `$client` is the raw binding, for the few statements drizzle cannot express (batched raw SQL). */
export type Database = DrizzleD1Database<typeof schema> & { $client: D1Database };

export const createDb = (d1: D1Database): Database => drizzle(d1, { schema });
