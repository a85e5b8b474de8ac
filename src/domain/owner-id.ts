// The id of a tenant or a partner, as ScaiKey issues them: one schema for the webhook API and the event envelope.
import { pyString } from "../lib/pydantic";

const ownerId = (example: string) =>
  pyString({
    min: 1,
    max: 64,
    pattern: /^[A-Za-z0-9_-]+$/,
    patternMessage: "Must contain only letters, digits, '_' and '-'",
  }).openapi({ example });

export const TenantIdSchema = ownerId("tnt_a3f9k2bWqL8Hn5pZ");
export const PartnerIdSchema = ownerId("prt_7Hq2LmX9");
