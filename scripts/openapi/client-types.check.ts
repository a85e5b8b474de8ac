// Compiled by `npm run lint:openapi` against the types openapi-typescript generates from the served document: a
// client written against those types sees what the API really answers.
import type { components, operations, paths } from "../../dist/openapi/api-types";

type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
type Assert<T extends true> = T;
type Json<R> = R extends { content: { "application/json": infer B } } ? B : never;

type CreateWebhook = operations["createWebhook"];
type DeliveryDetail = components["schemas"]["DeliveryDetail"];
type ValidationError = components["schemas"]["ValidationError"];

export type Checks = [
  // FastAPI's loc: field names and list indexes
  Assert<Equal<ValidationError["loc"], (string | number)[]>>,
  // the signing secret comes back on create
  Assert<Equal<Json<CreateWebhook["responses"][201]>["secret"], string>>,
  Assert<Equal<Json<CreateWebhook["responses"][422]>, components["schemas"]["HTTPValidationError"]>>,
  // a delivery's payload is the event envelope as delivered (or null once purged), not an untyped record
  Assert<Equal<DeliveryDetail["payload"], components["schemas"]["DeliveredEvent"] | null>>,
  Assert<Equal<NonNullable<DeliveryDetail["payload"]>["event_id"], string>>,
  // a 422 item may carry pydantic's input and ctx
  Assert<Equal<ValidationError["ctx"], { [key: string]: unknown } | undefined>>,
  // the collection answers on its trailing-slash path
  Assert<Equal<paths["/api/v1/admin/webhooks/"]["post"], CreateWebhook>>,
];
