// The Worker under test runs with the development switches on (vitest.config.ts); this app runs the same routes and
// portal with the production target policy: https only, no private targets.
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { createApp } from "../../src/app";
import { createServices } from "../../src/lib/services";

const productionApp = createApp((e) => {
  const services = createServices(e);
  return { ...services, config: { ...services.config, allowInsecureUrls: false, allowPrivateTargets: false } };
});

/** One request through the production-policy app. */
export async function productionFetch(request: Request): Promise<Response> {
  const ctx = createExecutionContext();
  const res = await productionApp.fetch(request, env, ctx);
  await waitOnExecutionContext(ctx);
  return res;
}
