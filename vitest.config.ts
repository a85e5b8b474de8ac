import { cloudflareTest, readD1Migrations } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";

export default defineConfig(async () => {
  const migrations = await readD1Migrations("./migrations");
  return {
    plugins: [
      // A function, so bindings can use what the global setup provides (the DoH stub's port).
      cloudflareTest(({ inject }) => ({
        wrangler: { configPath: "./wrangler.toml" },
        miniflare: {
          // Needed only here: lets tests call exports.default.queue()/scheduled().
          compatibilityFlags: ["service_binding_extra_handlers"],
          // For tests only: an empty database beside DB, which test/migrations/upgrade.test.ts takes through the
          // migrations as a deployed database went through them.
          d1Databases: ["UPGRADE_DB"],
          bindings: {
            TEST_MIGRATIONS: migrations,
            JWT_SECRET: "test-secret-do-not-use-in-production",
            JWT_JWKS_URL: "",
            SECRET_ENCRYPTION_KEY: "test-k1:MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
            ALLOW_INSECURE_URLS: "true",
            // The origin test requests use (test/helpers/api.ts), as in test/fixtures/fastapi-reference.json.
            PUBLIC_ORIGIN: "https://webhooks.test",
            ALLOW_PRIVATE_TARGETS: "true",
            DNS_RESOLVER_URL: inject("dohUrl"),
          },
        },
      })),
    ],
    test: {
      // A real HTTP receiver on 127.0.0.1, started in Node; tests read its URL with inject("receiverUrl").
      // Random published bodies with python3's json.dumps of each: inject("pythonJsonCases").
      globalSetup: ["./test/helpers/receiver-global-setup.ts", "./test/helpers/python-json-global-setup.ts"],
      setupFiles: ["./test/apply-migrations.ts"],
      include: ["test/**/*.test.ts"],
    },
  };
});
