// The id of a tenant or a partner, as ScaiKey issues them: one schema for the webhook API and the event envelope.
import { z } from "@hono/zod-openapi";

const ownerId = (example: string) =>
  z
    .string()
    .min(1)
    .max(64)
    .regex(/^[A-Za-z0-9_-]+$/, "Must contain only letters, digits, '_' and '-'")
    .openapi({ example });

export const TenantIdSchema = ownerId("tnt_a3f9k2bWqL8Hn5pZ");
export const PartnerIdSchema = ownerId("prt_7Hq2LmX9");
