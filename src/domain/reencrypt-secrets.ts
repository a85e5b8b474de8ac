// Rewrites signing secrets that are not sealed under the active master key: rows written before encryption existed,
// and rows sealed under a key being rotated out. Bounded per run; each row's update is guarded by the values it read,
// so a concurrent rotation of that endpoint's secret is never overwritten.
import { and, eq, isNull, like, not, or } from "drizzle-orm";
import { webhookEndpoints } from "../db/schema";
import { logger } from "../lib/logger";
import type { Services } from "../lib/services";

const ROWS_PER_RUN = 200;

export async function reencryptSecrets(services: Pick<Services, "db" | "secretBox">): Promise<{ rewritten: number }> {
  const { db, secretBox } = services;
  const current = `${await secretBox.activePrefix()}%`;
  const rows = await db
    .select({
      id: webhookEndpoints.id,
      secret: webhookEndpoints.secret,
      previousSecret: webhookEndpoints.previousSecret,
    })
    .from(webhookEndpoints)
    .where(or(not(like(webhookEndpoints.secret, current)), not(like(webhookEndpoints.previousSecret, current))))
    .limit(ROWS_PER_RUN);
  if (rows.length === 0) return { rewritten: 0 };
  const reseal = async (stored: string | null, id: string) =>
    stored === null || stored.startsWith(current.slice(0, -1))
      ? stored
      : secretBox.seal(await secretBox.open(stored, id), id);
  // Seal first, then build the statements: a drizzle query is a thenable, so it must not be returned from an async fn.
  const resealed = await Promise.all(
    rows.map(async (row) => ({
      row,
      secret: (await reseal(row.secret, row.id))!,
      previousSecret: await reseal(row.previousSecret, row.id),
    })),
  );
  const updates = resealed.map(({ row, secret, previousSecret }) =>
    db
      .update(webhookEndpoints)
      .set({ secret, previousSecret })
      .where(
        and(
          eq(webhookEndpoints.id, row.id),
          eq(webhookEndpoints.secret, row.secret),
          row.previousSecret === null
            ? isNull(webhookEndpoints.previousSecret)
            : eq(webhookEndpoints.previousSecret, row.previousSecret),
        ),
      ),
  );
  await db.batch(updates as [(typeof updates)[number], ...(typeof updates)[number][]]);
  logger.info("signing secrets re-encrypted", { rewritten: rows.length });
  return { rewritten: rows.length };
}
