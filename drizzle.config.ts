import { defineConfig } from "drizzle-kit";

// Generates SQL into migrations/, which `wrangler d1 migrations apply` reads (it ignores migrations/meta/).
export default defineConfig({
  dialect: "sqlite",
  schema: "./src/db/schema.ts",
  out: "./migrations",
});
