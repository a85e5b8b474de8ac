import type { D1Migration } from "cloudflare:test";

declare global {
  namespace Cloudflare {
    interface Env {
      TEST_MIGRATIONS: D1Migration[];
      /** An empty database for the upgrade test (vitest.config.ts), migrated by the test itself. */
      UPGRADE_DB: D1Database;
    }
  }
}
