// Creating and changing a webhook: the one write path of the API (createWebhook, updateWebhook) and the portal's form,
// so the two can never accept different things. In order:
// 1. the owner (auth/policy.ts resolveNewOwner), on update only when tenant_id or partner_id is given, the rest of the
//    owner carried over;
// 2. the whole target URL policy, including where the host's name resolves (domain/target-url.ts);
// 3. the write, with the cap on live webhooks per owner checked inside it (domain/webhooks.ts);
// 4. only then the tenant → partner pairing the directory may learn: a refused write teaches nothing.
import { type NewOwner, type Owner, resolveNewOwner } from "../auth/policy";
import type { Principal } from "../auth/principal";
import type { WebhookEndpointRow } from "../db/schema";
import { onShard, placeOwner, placeOwnerIn, shardOfWebhook } from "../db/shards";
import { invalidField, serviceUnavailable } from "../lib/errors";
import type { Services } from "../lib/services";
import { ownerKeyOf } from "./publish";
import { checkTargetUrl, dnsDepsOf, targetPolicyOf } from "./target-url";
import { type TenantDirectory, tenantDirectory } from "./tenant-directory";
import type { WebhookFields } from "./webhook-fields";
import { createWebhook, getWebhookRow, updateWebhook } from "./webhooks";

export type WebhookWriteDeps = Pick<Services, "db" | "shard" | "shards" | "config" | "now" | "fetch" | "secretBox">;

/** Who a webhook is for, as a request names it (both optional: the caller's own tenant or partner by default). */
export interface OwnerFields {
  tenant_id?: string | null;
  partner_id?: string | null;
}

/** Creates a webhook (`existing` absent; the answer carries its secret) or changes `existing`. */
export async function saveWebhook(
  deps: WebhookWriteDeps,
  principal: Principal,
  input: WebhookFields & OwnerFields,
): Promise<{ webhook: WebhookEndpointRow; secret: string }>;
export async function saveWebhook(
  deps: WebhookWriteDeps,
  principal: Principal,
  input: Partial<WebhookFields> & OwnerFields,
  existing: WebhookEndpointRow,
): Promise<{ webhook: WebhookEndpointRow; secret: null }>;
export async function saveWebhook(
  deps: WebhookWriteDeps,
  principal: Principal,
  input: Partial<WebhookFields> & OwnerFields,
  existing?: WebhookEndpointRow,
): Promise<{ webhook: WebhookEndpointRow; secret: string | null }> {
  const { secretBox, config, now } = deps;
  const directory = tenantDirectory(deps);
  const resolved = await ownerOf(principal, input, existing, directory);
  if (resolved) requireOwner(resolved.owner);
  if (input.url !== undefined) await requireAcceptableTargetUrl(deps, input.url);
  // While the pairing is not yet learned the directory knows no partner for the tenant, and the webhook mirrors that.
  const stored = resolved && {
    tenantId: resolved.owner.tenantId,
    partnerId: resolved.learn ? null : resolved.owner.partnerId,
  };
  // A new webhook goes to its owner's shard; a webhook stays in its own, and so must its new owner (db/shards.ts).
  const shard = existing === undefined ? await ownerShardOf(deps, resolved!.owner) : shardOfWebhook(existing.id);
  if (existing !== undefined && resolved) await requireOwnerIn(deps, resolved.owner, shard);
  const { db } = onShard(deps, shard);
  let webhook: WebhookEndpointRow;
  let secret: string | null = null;
  if (existing === undefined) {
    ({ webhook, secret } = await createWebhook(
      db,
      secretBox,
      input as WebhookFields,
      stored!,
      now(),
      config.maxWebhooksPerOwner,
      shard,
    ));
  } else {
    webhook = await updateWebhook(
      db,
      existing,
      { ...input, tenantId: stored?.tenantId, partnerId: stored?.partnerId },
      now(),
      config.maxWebhooksPerOwner,
    );
  }
  if (resolved?.learn) {
    // Learning brings the tenant's webhooks, this one included, to the partner the directory now holds.
    await directory.learn(resolved.learn);
    webhook = await getWebhookRow(db, webhook.id);
  }
  return { webhook, secret };
}

const ownerKey = (owner: Owner) => ownerKeyOf(owner.tenantId, owner.partnerId);

/** The shard of a new webhook's owner, placing the owner (a tenant beside its partner) if it has none yet. */
const ownerShardOf = (deps: WebhookWriteDeps, owner: Owner) =>
  placeOwner(deps, ownerKey(owner), owner.tenantId ? owner.partnerId : null);

/**
 * A 422 unless the new owner of a webhook in `shard` lives there too; an owner with no shard yet is placed there. A
 * webhook never leaves its shard (its id names it), and an owner's webhooks share one shard, which is what lets a
 * publish reach them all in one batch.
 */
async function requireOwnerIn(deps: WebhookWriteDeps, owner: Owner, shard: number): Promise<void> {
  if ((await placeOwnerIn(deps, ownerKey(owner), shard)) === shard) return;
  const [field, who] = owner.tenantId
    ? ["tenant_id", `Tenant ${owner.tenantId}`]
    : ["partner_id", `Partner ${owner.partnerId}`];
  throw invalidField(
    ["body", field],
    `${who} keeps its webhooks in another shard than this webhook's, and a webhook cannot change shard; ` +
      "create a webhook for the new owner instead",
  );
}

/** The new owner, or null when an update leaves the owner as it is. */
function ownerOf(
  principal: Principal,
  input: OwnerFields,
  existing: WebhookEndpointRow | undefined,
  directory: TenantDirectory,
): Promise<NewOwner> | null {
  if (existing === undefined)
    return resolveNewOwner(principal, { tenantId: input.tenant_id, partnerId: input.partner_id }, directory);
  if (input.tenant_id === undefined && input.partner_id === undefined) return null;
  const tenantId = input.tenant_id === undefined ? existing.tenantId : input.tenant_id;
  // A tenant webhook's partner is the directory's, so only a partner-level webhook carries its partner over.
  const partnerId =
    input.partner_id !== undefined ? input.partner_id : tenantId === null ? existing.partnerId : undefined;
  return resolveNewOwner(principal, { tenantId, partnerId }, directory);
}

/** A webhook belongs to a tenant, a partner, or both: never to no one. */
export function requireOwner(owner: Owner): void {
  if (!owner.tenantId && !owner.partnerId)
    throw invalidField(["body", "tenant_id"], "tenant_id or partner_id is required when the token has neither");
}

/**
 * A 422 on `body.url` unless the deployment's target policy accepts it, where its host resolves to included; a 503 when
 * the resolver cannot answer (nothing is known about the target yet, and it is not the caller's mistake).
 */
async function requireAcceptableTargetUrl(deps: WebhookWriteDeps, url: string): Promise<void> {
  const verdict = await checkTargetUrl(url, targetPolicyOf(deps.config), dnsDepsOf(deps));
  if (verdict.ok) return;
  if (verdict.kind === "unavailable") throw serviceUnavailable(verdict.reason);
  throw invalidField(["body", "url"], verdict.reason);
}
