// @playwright/test for the browser suite (portal.spec.mjs), on Debian's chromium: Playwright's own browser download
// cannot run here, so the browser is the system's (`apt-get install chromium`; CHROMIUM_PATH for another), and as root
// it needs --no-sandbox.
import { existsSync } from "node:fs";
import { defineConfig } from "@playwright/test";

const executablePath = process.env.CHROMIUM_PATH || "/usr/bin/chromium";
if (!existsSync(executablePath))
  throw new Error(`${executablePath} not found: apt-get install -y chromium (or set CHROMIUM_PATH)`);

export default defineConfig({
  testDir: ".",
  testMatch: "*.spec.mjs",
  // One Worker, one flow: the sections build on one another.
  workers: 1,
  retries: 0,
  timeout: 300_000, // the flow waits, for real, for a 60 s link to expire
  reporter: [["list"]],
  outputDir: "../../dist/browser-results",
  use: {
    browserName: "chromium",
    launchOptions: { executablePath, args: process.getuid?.() === 0 ? ["--no-sandbox"] : [] },
    trace: "retain-on-failure",
  },
});
