// `npm run test:browser`: the delivery portal in a real browser, with @playwright/test driving Debian's chromium
// (playwright.config.mjs beside this file; Playwright's own browser download is not used). Starts the Worker as a
// user would (`wrangler dev` on 127.0.0.1, a free port, a fresh local D1; scripts/lib/wrangler-dev.mjs) with a real
// local receiver (scripts/lib/local-receiver.mjs), then walks the issue's flow: magic link → create endpoint → publish
// → delivery and attempt → receiver fails, retry visible, retry by hand → rotate → stats chart; and checks XSS, expired
// and reused links, another tenant's id (404), a read-only write (403), keyboard-only use, the first page's weight and
// that nothing loads from elsewhere. One test in sections: each section builds on the last (the endpoint, the link),
// and every check is soft, so one run reports all that failed. Screenshots (desktop and phone width) go to docs/portal/.
import { createHmac, randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import { expect, test } from "@playwright/test";
import { startLocalReceiver } from "../../scripts/lib/local-receiver.mjs";
import { applyLocalMigrations, wranglerBin } from "../../scripts/lib/wrangler.mjs";
import { startWranglerDev } from "../../scripts/lib/wrangler-dev.mjs";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const SHOTS = join(root, "docs/portal");
const FIRST_PAGE_BUDGET = 100 * 1024;
const TENANT = "tnt_demo";

const section = (name) => process.stdout.write(`${name}\n`);
/** A soft expectation named for what it checks: the flow goes on, and the run lists every check that failed. */
const check = (name, ok, detail = "") => expect.soft(Boolean(ok), detail ? `${name}: ${detail}` : name).toBe(true);

// ---- tokens (HS256, what src/auth/jwt.ts accepts when no JWKS is configured) ----
const b64url = (v) => Buffer.from(typeof v === "string" ? v : JSON.stringify(v)).toString("base64url");
function mintToken(secret, claims) {
  const now = Math.floor(Date.now() / 1000);
  const payload = {
    iss: `https://auth.scaikey.local/tenants/${claims.tenant_id ?? "platform"}`,
    aud: "scaikey-webhooks",
    sub: "usr_browser",
    iat: now,
    exp: now + 3600,
    ...claims,
  };
  const head = `${b64url({ alg: "HS256", typ: "JWT" })}.${b64url(payload)}`;
  return `${head}.${createHmac("sha256", secret).update(head).digest("base64url")}`;
}

// ---- the receiver: answers 200, or 500 with a hostile body while `failing` ----
let failing = false;
const received = [];
const HOSTILE_BODY = `<script>window.__xss = "receiver"</script><b>boom</b>`;

let workDir;
let receiver;
let doh;
let worker;
let base;
let receiverUrl;
let jwtSecret;

let passed = false;

test.beforeAll(async () => {
  test.setTimeout(180_000); // wrangler dev's first start bundles the Worker
  workDir = mkdtempSync(join(tmpdir(), "portal-browser-"));
  const persistDir = join(workDir, "state");
  const envFile = join(workDir, "browser.env");
  writeFileSync(envFile, "# vars come from --var\n");
  mkdirSync(SHOTS, { recursive: true });

  receiver = await startLocalReceiver((req, res, body) => {
    received.push({ path: req.url, body: body.toString(), at: Date.now() });
    if (failing) {
      res.writeHead(500, { "content-type": "text/html" });
      res.end(HOSTILE_BODY);
    } else {
      res.writeHead(200, { "content-type": "text/plain" });
      res.end("ok, thanks");
    }
  });
  receiverUrl = receiver.url("/hooks/portal");

  // Targets on public names are resolved at create time: a local DoH stub answers (no network here).
  const { startDohStub } = await import("../helpers/doh-stub.ts");
  doh = await startDohStub();

  jwtSecret = randomBytes(32).toString("base64url");
  const wrangler = wranglerBin(root);
  applyLocalMigrations(wrangler, { cwd: root, persistTo: persistDir });
  worker = await startWranglerDev({
    wrangler,
    cwd: root,
    persistTo: persistDir,
    envFile,
    logPath: join(workDir, "worker.log"),
    vars: {
      DNS_RESOLVER_URL: doh.url,
      JWT_SECRET: jwtSecret,
      JWT_JWKS_URL: "",
      SECRET_ENCRYPTION_KEY: `browser:${randomBytes(32).toString("base64")}`,
      ALLOW_INSECURE_URLS: "true",
      ALLOW_PRIVATE_TARGETS: "true",
      RETRY_SCHEDULE: "2,2", // three attempts a few seconds apart, so the suite can watch a delivery fail for good
      DELIVERY_TIMEOUT_MS: "5000",
    },
  });
  base = worker.base;
  section(`Worker on ${base}, receiver on ${receiverUrl}`);
});

test.afterAll(async () => {
  await worker?.stop();
  await receiver?.stop();
  await doh?.stop();
  if (passed) rmSync(workDir, { recursive: true, force: true });
  else section(`worker log kept in ${join(workDir, "worker.log")}`);
});

test("the delivery portal, end to end", async ({ browser }) => {
  const admin = mintToken(jwtSecret, {
    role: "tenant_admin",
    tenant_id: TENANT,
    scope: "admin:read admin:write webhooks:publish",
  });
  const apiCall = async (method, path, body, token = admin) => {
    const res = await fetch(`${base}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : null };
  };
  const issueLink = async (body = {}) => {
    const res = await apiCall("POST", "/api/v1/admin/webhooks/portal-sessions", body);
    if (res.status !== 201) throw new Error(`portal-sessions: ${res.status} ${JSON.stringify(res.body)}`);
    return res.body;
  };
  const publish = (data, type = "user.created") =>
    apiCall("POST", "/api/v1/events", {
      event_type: type,
      tenant_id: TENANT,
      resource: { type: "user", id: "usr_1" },
      data,
    });

  // Issued first so that it has expired, for real, by the end of the run.
  const expiring = await issueLink({ expires_in: 60 });

  const desktop = await browser.newContext({
    viewport: { width: 1280, height: 800 },
    timezoneId: "Europe/Amsterdam",
    locale: "en-GB",
  });
  const page = await desktop.newPage();
  const foreign = [];
  const dialogs = [];
  const cspErrors = [];
  page.on("request", (r) => {
    if (!r.url().startsWith(base)) foreign.push(r.url());
  });
  page.on("dialog", async (d) => {
    dialogs.push(d.message());
    await d.dismiss();
  });
  page.on("console", (m) => {
    if (/Content Security Policy/i.test(m.text())) cspErrors.push(m.text());
  });
  const xssRan = () => page.evaluate(() => window.__xss ?? null);
  const shot = async (name, target = page) => {
    await target.screenshot({ path: join(SHOTS, `${name}-desktop.png`), fullPage: true });
  };

  section("Magic link");
  const link = await issueLink();
  await page.goto(link.url);
  await page.waitForURL(`${base}/portal`);
  check("the link lands on /portal, without the token in the URL", page.url() === `${base}/portal`);
  const cookies = await desktop.cookies();
  const session = cookies.find((c) => c.name === "__Host-scaikey-portal");
  check(
    "session cookie is HttpOnly, Secure, SameSite=Strict",
    session?.httpOnly && session.secure && session.sameSite === "Strict",
    JSON.stringify(session),
  );
  await page.getByRole("heading", { name: "No endpoints yet" }).waitFor();
  check("empty state on a fresh tenant", true);
  // The first page's transfer: its HTML, stylesheet and script (nothing else loads), gzipped.
  const asUser = { headers: { cookie: `${session.name}=${session.value}` } };
  let firstPageBytes = 0;
  for (const path of ["/portal", "/portal/assets/portal.css", "/portal/assets/portal.js"]) {
    firstPageBytes += gzipSync(Buffer.from(await (await fetch(`${base}${path}`, asUser)).arrayBuffer())).length;
  }
  check(
    `first page is ${firstPageBytes} bytes gzipped (≤ ${FIRST_PAGE_BUDGET})`,
    firstPageBytes > 0 && firstPageBytes <= FIRST_PAGE_BUDGET,
  );
  await shot("endpoints-empty");

  section("Create an endpoint");
  await page.getByRole("link", { name: "+ Add endpoint" }).click();
  await page.getByLabel("Endpoint URL").fill(receiverUrl);
  await page.getByLabel("Description").fill("CRM sync (production)");
  await page.locator("summary", { hasText: "user" }).first().click();
  await page.getByRole("checkbox", { name: "All user events user.*" }).check();
  await page.locator("summary", { hasText: "group" }).first().click();
  await page.getByRole("checkbox", { name: /group\.member_added/ }).check();
  await page.getByLabel("Custom headers").fill("X-Team: identity");
  await shot("endpoint-form");
  await page.getByRole("button", { name: "Create endpoint" }).click();
  const secret1 = (await page.locator("#secret-value").textContent()).trim();
  check("the secret is shown once, on create", /^whsec_/.test(secret1), secret1);
  await shot("endpoint-created");
  const webhookPath = new URL(
    await page.getByRole("link", { name: "Deliveries" }).getAttribute("href"),
    base,
  ).pathname.replace(/\/deliveries$/, "");
  const webhookId = webhookPath.split("/").pop();
  await page.goto(`${base}${webhookPath}`);
  check("the secret is not shown again", !(await page.content()).includes(secret1));

  section("Publish an event and see its delivery");
  const pub = await publish({
    email: "ada@example.com",
    note: `<img src=x onerror="window.__xss='payload'"><script>window.__xss='payload'</script>`,
  });
  check("publish accepted", pub.status === 202 || pub.status === 201 || pub.status === 200, JSON.stringify(pub));
  const waitForStatus = async (path, label, timeoutMs = 30_000) => {
    const until = Date.now() + timeoutMs;
    for (;;) {
      await page.goto(`${base}${path}`);
      if ((await page.locator(".badge", { hasText: label }).count()) > 0) return true;
      if (Date.now() > until) return false;
      await page.waitForTimeout(1000);
    }
  };
  check("the delivery succeeds", await waitForStatus(`${webhookPath}/deliveries`, "Succeeded"));
  await shot("deliveries");
  await page.locator("tbody a").first().click();
  await page.getByRole("heading", { name: /Delivery #/ }).waitFor();
  check("its attempt is listed with HTTP 200", (await page.getByText("HTTP 200").count()) >= 1);
  check(
    "the payload is pretty-printed, HTML as text",
    (await page.locator("pre").filter({ hasText: `"note": "<img src=x onerror=` }).count()) === 1,
  );
  check(
    "the receiver got the event",
    received.some((r) => r.body.includes("ada@example.com")),
  );
  await shot("delivery");

  section("Receiver fails: retries, then a retry by hand");
  failing = true;
  await publish({ email: "grace@example.com" });
  check(
    "the retry is visible (status Retrying)",
    await waitForStatus(`${webhookPath}/deliveries?status=retrying`, "Retrying"),
  );
  check(
    "the delivery fails for good after its retries",
    await waitForStatus(`${webhookPath}/deliveries?status=failed`, "Failed", 45_000),
  );
  await page.locator("tbody a").first().click();
  await page.getByRole("heading", { name: /Delivery #/ }).waitFor(); // count() does not wait for the page
  const attempts = await page.locator("article.attempt").count();
  check(`three attempts are listed (${attempts})`, attempts === 3);
  check(
    "the receiver's hostile body shows as text",
    (await page.locator("pre").filter({ hasText: HOSTILE_BODY }).count()) >= 1,
  );
  check("no injected script ran", (await xssRan()) === null);
  await shot("delivery-failed");
  failing = false;
  const failedUrl = page.url();
  await page.getByRole("button", { name: "Retry now" }).click();
  await page.getByText("Retry queued").waitFor();
  check("the retry by hand succeeds", await waitForStatus(new URL(failedUrl).pathname, "Succeeded"));
  check("…as a fourth attempt", (await page.locator("article.attempt").count()) === 4);

  section("Filters");
  await page.goto(`${base}${webhookPath}/deliveries`);
  await page.getByLabel("Status code").fill("500");
  await page.getByRole("button", { name: "Filter" }).click();
  check(
    "status code 500: nothing (the retried delivery's last code is 200)",
    (await page.getByText("No deliveries match these filters").count()) === 1,
  );
  await page.goto(`${base}${webhookPath}/deliveries?event_type=user.created&since=1h`);
  check("event type + time filter lists both deliveries", (await page.locator("tbody tr").count()) === 2);

  section("Test event, rotate, stats");
  await page.goto(`${base}${webhookPath}`);
  await page.getByRole("button", { name: "Send test event" }).click();
  await page.locator("#test-result").waitFor();
  check(
    "test event outcome shown",
    (await page.locator("#test-result").textContent()).includes("Test event delivered"),
  );
  await page.getByRole("link", { name: "Rotate secret…" }).click();
  await page.getByLabel("Keep the old secret for 1 hour").check();
  await page.getByRole("button", { name: "Rotate secret" }).click();
  const secret2 = (await page.locator("#secret-value").textContent()).trim();
  check("rotate shows a new secret", /^whsec_/.test(secret2) && secret2 !== secret1);
  await page.goto(`${base}${webhookPath}`);
  await shot("endpoint");
  await page.getByRole("link", { name: "Stats" }).click();
  await page.waitForURL(`${base}${webhookPath}/stats`);
  const okBars = await page.locator("svg.chart rect.bar-ok").count();
  const badBars = await page.locator("svg.chart rect.bar-bad").count();
  check(`the stats chart shows successes and failures (${okBars} / ${badBars} bars)`, okBars >= 1 && badBars >= 1);
  check("the latency chart has its p50/p95 lines", (await page.locator("svg.chart line.ref-p95").count()) === 1);
  await shot("stats");
  await page.getByRole("link", { name: "7d" }).click();
  await page.waitForURL(/window=7d/);
  check("7d window", (await page.locator("svg.chart").count()) === 2);
  await page.getByRole("link", { name: "Event catalog" }).click();
  await page.waitForURL(`${base}/portal/events`);
  await page.locator("summary", { hasText: "user.created" }).click();
  check(
    "catalog shows an example payload",
    (await page.locator("pre").filter({ hasText: '"event_type": "user.created"' }).count()) === 1,
  );
  await shot("events");
  await apiCall("POST", "/api/v1/admin/webhooks/", {
    url: "https://warehouse.example.com/ingest/scaikey",
    description: "Data warehouse export",
    events: ["user.*", "group.*"],
    enabled: false,
  });
  await page.goto(`${base}/portal`);
  check(
    "the list shows status, success rate and a sparkline",
    (await page.locator("svg.spark").count()) === 2 &&
      (await page.locator(".badge", { hasText: "Disabled" }).count()) === 1 &&
      (await page.locator("td.num b").allTextContents()).some((t) => /^\d+(\.\d)?%$/.test(t)),
  );
  await shot("endpoints");
  await page.goto(`${base}${webhookPath}`);
  const time = page.locator("main time").first();
  check(
    "times in the viewer's zone, UTC on hover",
    time &&
      ((await time.getAttribute("title")) ?? "").startsWith("UTC: ") &&
      !(await time.textContent()).includes("UTC"),
  );

  section("Phone width");
  const phone = await browser.newContext({
    viewport: { width: 390, height: 844 },
    deviceScaleFactor: 2,
    isMobile: true,
    hasTouch: true,
    timezoneId: "America/New_York",
  });
  await phone.addCookies([{ ...session, sameSite: "Strict" }]);
  const phonePage = await phone.newPage();
  for (const [name, path] of [
    ["endpoints", "/portal"],
    ["endpoint", webhookPath],
    ["deliveries", `${webhookPath}/deliveries`],
    ["stats", `${webhookPath}/stats`],
  ]) {
    await phonePage.goto(`${base}${path}`);
    const overflow = await phonePage.evaluate(
      () => document.documentElement.scrollWidth - document.documentElement.clientWidth,
    );
    check(`${name} fits a phone's width (overflow ${overflow}px)`, overflow <= 0);
    await phonePage.screenshot({ path: join(SHOTS, `${name}-phone.png`), fullPage: true });
  }
  await phone.close();

  section("Keyboard only");
  await page.goto(`${base}/portal`);
  const tabTo = async (predicate, max = 80) => {
    for (let i = 0; i < max; i++) {
      await page.keyboard.press("Tab");
      const focused = await page.evaluate(() => {
        const el = document.activeElement;
        return {
          tag: el?.tagName,
          text: (el?.textContent ?? "").trim(),
          label: el?.getAttribute("aria-label") ?? el?.id ?? "",
          type: el?.getAttribute("type"),
          value: el?.getAttribute("value"),
        };
      });
      if (predicate(focused)) return focused;
    }
    throw new Error("keyboard: target never got focus");
  };
  const first = await tabTo(() => true);
  check("the first Tab reaches the skip link", first.text === "Skip to content");
  const outline = await page.evaluate(() => getComputedStyle(document.activeElement).outlineStyle);
  check("focus is visible", outline !== "none", outline);
  await tabTo((f) => f.text === "+ Add endpoint");
  await page.keyboard.press("Enter");
  await page.waitForURL(`${base}/portal/webhooks/new`);
  check("the URL field has focus on arrival", await page.evaluate(() => document.activeElement?.id === "url"));
  await page.keyboard.type(`${receiverUrl}/keyboard`);
  await page.keyboard.press("Tab");
  await page.keyboard.type("Typed without a mouse");
  await tabTo((f) => f.type === "checkbox" && f.value === "*");
  await page.keyboard.press("Space");
  await tabTo((f) => f.tag === "BUTTON" && f.text === "Create endpoint");
  await page.keyboard.press("Enter");
  await page.locator("#secret-value").waitFor();
  check("an endpoint created by keyboard alone", (await page.getByText("Typed without a mouse").count()) === 1);

  section("Security");
  const hostile = `<img src=x onerror="window.__xss='description'"><script>window.__xss='description'</script>`;
  const hostileHook = await apiCall("POST", "/api/v1/admin/webhooks/", {
    url: `${receiverUrl}?q=<script>x</script>`,
    description: hostile,
    events: ["*"],
    headers: { "X-Note": hostile },
  });
  for (const path of [
    "/portal",
    `/portal/webhooks/${hostileHook.body.id}`,
    `/portal/webhooks/${hostileHook.body.id}/edit`,
  ]) {
    await page.goto(`${base}${path}`);
    const asText = path.endsWith("/edit")
      ? (await page.getByLabel("Description").inputValue()) === hostile
      : (await page.getByText(hostile).count()) >= 1;
    const elements = await page.locator("main img, main script").count();
    check(
      `${path.replace(hostileHook.body.id, "{id}")}: a hostile description shows as text, no element made of it`,
      asText && elements === 0,
    );
  }
  const reused = await page.goto(link.url);
  check(
    "a reused link: 410 and a clear page",
    reused.status() === 410 && (await page.getByRole("heading", { name: "This link was already used" }).count()) === 1,
  );
  const other = await apiCall(
    "POST",
    "/api/v1/admin/webhooks/",
    { url: `${receiverUrl}/other`, events: ["*"] },
    mintToken(jwtSecret, { role: "tenant_admin", tenant_id: "tnt_other", scope: "admin:read admin:write" }),
  );
  const otherPage = await page.goto(`${base}/portal/webhooks/${other.body.id}`);
  check(
    "another tenant's webhook id: 404",
    otherPage.status() === 404 && (await page.getByRole("heading", { name: "Not found" }).count()) === 1,
  );
  await page.goto(`${base}/portal/webhooks/${other.body.id}/deliveries`);
  check("…and its deliveries: 404", (await page.getByRole("heading", { name: "Not found" }).count()) === 1);

  const readOnly = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const roPage = await readOnly.newPage();
  await roPage.goto((await issueLink({ read_only: true })).url);
  await roPage.waitForURL(`${base}/portal`);
  check(
    "read-only: no write buttons",
    (await roPage.getByText("Read-only").count()) === 1 &&
      (await roPage.getByRole("link", { name: "+ Add endpoint" }).count()) === 0,
  );
  const roNew = await roPage.goto(`${base}/portal/webhooks/new`);
  check("read-only: the create form is a 403", roNew.status() === 403);
  await roPage.goto(`${base}${webhookPath}`);
  const roWrite = await roPage.evaluate(async (path) => {
    const csrf = document.querySelector("input[name=_csrf]").value;
    const res = await fetch(`${path}/delete`, { method: "POST", body: new URLSearchParams({ _csrf: csrf }) });
    return res.status;
  }, webhookPath);
  check(`read-only: a write is a 403 (${roWrite})`, roWrite === 403);
  const stillThere = await apiCall("GET", `/api/v1/admin/webhooks/${webhookId}`);
  check("…and changed nothing", stillThere.status === 200);
  await readOnly.close();

  const waitMs = expiring.expires_at ? Date.parse(expiring.expires_at) - Date.now() + 1500 : 0;
  if (waitMs > 0) {
    section(`(waiting ${Math.ceil(waitMs / 1000)} s for the 60 s link to expire)`);
    await new Promise((r) => setTimeout(r, waitMs));
  }
  const expiredContext = await browser.newContext();
  const expiredPage = await expiredContext.newPage();
  const expired = await expiredPage.goto(expiring.url);
  check(
    "an expired link: 410 and a clear page",
    expired.status() === 410 &&
      (await expiredPage.getByRole("heading", { name: "This link has expired" }).count()) === 1,
  );
  await expiredPage.screenshot({ path: join(SHOTS, "link-expired-desktop.png") });
  const noSession = await expiredPage.goto(`${base}/portal`);
  check("without a session: 401 page", noSession.status() === 401);
  await expiredContext.close();

  check("no request left the Worker's origin", foreign.length === 0, foreign.join(", "));
  check("no dialog opened (no injected script ran)", dialogs.length === 0, dialogs.join(", "));
  check("no CSP violation", cspErrors.length === 0, cspErrors.join(" | "));
  check("window.__xss never set", (await xssRan()) === null);
  passed = test.info().errors.length === 0;
});
