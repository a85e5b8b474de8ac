// `npm run test:browser`: the delivery portal in a real browser, with @playwright/test driving Debian's chromium
// (playwright.config.mjs beside this file; Playwright's own browser download is not used). Starts the Worker as a
// user would (`wrangler dev` on 127.0.0.1, a free port, a fresh local D1; scripts/lib/wrangler-dev.mjs) with a real
// local receiver (scripts/lib/local-receiver.mjs), then drives the jobs an admin comes for: magic link → create
// endpoint (a reload creates nothing) → publish → delivery and attempt with its headers → the receiver fails: the
// Failing badge, the last error → enable and retry → recover with date and time pickers and a count → replay after
// re-enabling → a test with a catalog example (a reload sends nothing) → rotate (a reload keeps the copied secret) →
// the log across endpoints and its search → stats → phone width; and checks XSS, expired and reused links, another
// tenant's id (404), a read-only write (403), keyboard-only use, the pages' weight, that nothing loads from elsewhere,
// axe-core on every screen (no serious or critical violation) and no console error. One test in sections: each builds
// on the last, and every check is soft, so one run reports all that failed. Screenshots (desktop and phone width) go
// to docs/portal/.
import { createHmac, randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
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

const AXE_SOURCE = readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");

const section = (name) => process.stdout.write(`${name}\n`);
/**
 * The every-minute cron (the retry sweep, then open recoveries an hour of their window at a time), as the platform runs
 * it: a recover or replay answers once its window's first hour is done and the cron does the rest.
 */
const everyMinute = async () => {
  const res = await fetch(`${base}/__scheduled?cron=*+*+*+*+*`);
  check("the every-minute cron runs", res.ok, `${res.status}`);
};
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
    received.push({ path: req.url, headers: req.headers, body: body.toString(), at: Date.now() });
    if (req.url.endsWith("/gone")) {
      res.writeHead(410, { "content-type": "text/plain" });
      res.end("this endpoint was removed");
    } else if (failing) {
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
    // GET /__scheduled runs a cron: the suite runs the every-minute one as the platform would (see everyMinute).
    args: ["--test-scheduled"],
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
  const publish = (data, type = "user.created", resourceId = "usr_1") =>
    apiCall("POST", "/api/v1/events", {
      event_type: type,
      tenant_id: TENANT,
      resource: { type: "user", id: resourceId },
      data,
    });

  // Issued first so that it has expired, for real, by the end of the run.
  const expiring = await issueLink({ expires_in: 60 });

  // ---- what every page is checked for: console errors, axe-core, requests elsewhere, dialogs, CSP ----
  const foreign = [];
  const dialogs = [];
  const consoleErrors = [];
  const expectedFailures = new Set(); // URLs (or patterns) visited on purpose for a 4xx page: the browser logs those
  const axeFindings = [];
  const audited = new Set();
  const watch = (target) => {
    target.on("request", (r) => {
      if (!r.url().startsWith(base)) foreign.push(r.url());
    });
    target.on("dialog", async (d) => {
      dialogs.push(d.message());
      await d.dismiss();
    });
    target.on("console", (m) => {
      if (m.type() !== "error") return;
      const at = m.location()?.url ?? "";
      if (
        /Failed to load resource: the server responded with a status of 4\d\d/.test(m.text()) &&
        [...expectedFailures].some((u) => (typeof u === "string" ? u === at : u.test(at)))
      )
        return;
      consoleErrors.push(`${m.text()} (${at})`);
    });
    target.on("pageerror", (e) => consoleErrors.push(`page error: ${e.message}`));
  };
  /** axe-core, injected from node_modules (no CDN), on the screen as it is: serious and critical violations fail. */
  const audit = async (target, name) => {
    if (audited.has(name)) return;
    audited.add(name);
    await target.evaluate(AXE_SOURCE);
    const { violations } = await target.evaluate(() =>
      window.axe.run(document, {
        resultTypes: ["violations"],
        runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"] },
      }),
    );
    const bad = violations.filter((v) => v.impact === "serious" || v.impact === "critical");
    for (const v of bad)
      axeFindings.push(`${name}: ${v.id} (${v.impact}) at ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`);
    check(`axe: ${name} has no serious or critical violation`, bad.length === 0, bad.map((v) => v.id).join(", "));
  };
  const expectFailure = (url) => expectedFailures.add(url);

  const desktop = await browser.newContext({
    viewport: { width: 1280, height: 800 },
    timezoneId: "Europe/Amsterdam",
    locale: "en-GB",
  });
  const page = await desktop.newPage();
  watch(page);
  const xssRan = () => page.evaluate(() => window.__xss ?? null);
  const shot = async (name, target = page) => {
    await target.screenshot({ path: join(SHOTS, `${name}-desktop.png`), fullPage: true });
  };
  /** Goes to a portal path and audits the screen under `name`. */
  const visit = async (path, name) => {
    const res = await page.goto(`${base}${path}`);
    await audit(page, name);
    return res;
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
  await audit(page, "endpoints (empty)");
  const asUser = { headers: { cookie: `${session.name}=${session.value}` } };
  // The first page's transfer: its HTML, stylesheet and script (nothing else loads), gzipped.
  let firstPageBytes = 0;
  for (const path of ["/portal", "/portal/assets/portal.css", "/portal/assets/portal.js"]) {
    firstPageBytes += gzipSync(Buffer.from(await (await fetch(`${base}${path}`, asUser)).arrayBuffer())).length;
  }
  check(
    `first page is ${firstPageBytes} bytes gzipped (≤ ${FIRST_PAGE_BUDGET})`,
    firstPageBytes > 0 && firstPageBytes <= FIRST_PAGE_BUDGET,
  );
  await shot("endpoints-empty");

  section("Create an endpoint; a reload creates nothing");
  await page.getByRole("link", { name: "+ Add endpoint" }).click();
  await page.getByLabel("Endpoint URL").fill(receiverUrl);
  await page.getByLabel("Description").fill("CRM sync (production)");
  await page.locator("summary", { hasText: "user" }).first().click();
  await page.getByRole("checkbox", { name: "All user events user.*" }).check();
  await page.locator("summary", { hasText: "group" }).first().click();
  await page.getByRole("checkbox", { name: /group\.member_added/ }).check();
  await page.getByLabel("Custom headers").fill("X-Team: identity");
  await page.getByLabel("Rate limit").fill("50");
  check("the form offers delivery in order, off by default", !(await page.getByLabel(/Deliver in order/).isChecked()));
  check(
    "a tenant's form leaves out the partner group",
    (await page.locator("summary", { hasText: "partner" }).count()) === 0,
  );
  await audit(page, "endpoint form");
  await shot("endpoint-form");
  await page.getByRole("button", { name: "Create endpoint" }).click();
  const secret1 = (await page.locator("#secret-value").textContent()).trim();
  check("the secret is shown once, on create", /^whsec_/.test(secret1), secret1);
  await audit(page, "endpoint created");
  await shot("endpoint-created");
  const webhookPath = new URL(page.url()).pathname;
  const webhookId = webhookPath.split("/").pop();
  check("the create answer redirected to the endpoint", /^\/portal\/webhooks\/wh_/.test(webhookPath), webhookPath);
  await page.reload();
  check("after a reload the secret is gone", !(await page.content()).includes(secret1));
  const listed = await apiCall("GET", "/api/v1/admin/webhooks/");
  check(`…and there is still one endpoint (${listed.body.items.length})`, listed.body.items.length === 1);
  check(
    "its rate limit and order are the form's, and the overview shows them",
    listed.body.items[0].rate_limit === 50 &&
      listed.body.items[0].ordered === false &&
      (await page.locator("main").textContent()).includes("50 deliveries a second"),
    JSON.stringify(listed.body.items[0]),
  );

  section("Publish an event and see its delivery, what was sent and what came back");
  const pub = await publish(
    {
      email: "ada@example.com",
      note: `<img src=x onerror="window.__xss='payload'"><script>window.__xss='payload'</script>`,
    },
    "user.created",
    "usr_ada",
  );
  check("publish accepted", pub.status === 202, JSON.stringify(pub));
  const waitForStatus = async (path, label, timeoutMs = 30_000) => {
    const until = Date.now() + timeoutMs;
    for (;;) {
      await page.goto(`${base}${path}`);
      if ((await page.locator("main .badge", { hasText: label }).count()) > 0) return true;
      if (Date.now() > until) return false;
      await page.waitForTimeout(1000);
    }
  };
  check("the delivery succeeds", await waitForStatus(`${webhookPath}/deliveries`, "Succeeded"));
  await audit(page, "deliveries");
  await shot("deliveries");
  await page.locator("tbody a").first().click();
  await page.getByRole("heading", { name: /Delivery #/ }).waitFor();
  check("its attempt is listed with HTTP 200", (await page.getByText("HTTP 200").count()) >= 1);
  check(
    "the payload is pretty-printed, HTML as text",
    (await page.locator("pre").filter({ hasText: `"note": "<img src=x onerror=` }).count()) === 1,
  );
  check("the payload has a copy button", await page.getByRole("button", { name: "Copy payload" }).isVisible());
  await page.getByText("Request headers").first().click();
  check(
    "request headers: the signature masked, the webhook id, the custom header",
    (await page.getByText("•••• (masked)").count()) >= 1 &&
      (await page.locator("dl.headers dt", { hasText: "X-ScaiKey-Webhook-ID" }).count()) === 1 &&
      (await page.locator("dl.headers dd", { hasText: "identity" }).count()) === 1,
  );
  await page.getByText("Response headers").first().click();
  check("response headers are shown", (await page.locator("dl.headers dt", { hasText: "content-type" }).count()) >= 1);
  check(
    "the receiver got the event",
    received.some((r) => r.body.includes("ada@example.com")),
  );
  await audit(page, "delivery");
  await shot("delivery");

  section("The receiver fails: the Failing badge, the last error, then enable and retry");
  failing = true;
  const failedPub = await publish({ email: "grace@example.com" });
  check(
    "the retry is visible (status Retrying)",
    await waitForStatus(`${webhookPath}/deliveries?status=retrying`, "Retrying"),
  );
  await page.locator("tbody a").first().click();
  await page.getByRole("heading", { name: /Delivery #/ }).waitFor();
  check("a pending delivery says it refreshes by itself", (await page.locator("#live-note").count()) === 1);
  // The page's own script refreshes it in place: no reload here, the badge changes by itself.
  const refreshed = await page
    .locator("#delivery h1 .badge", { hasText: "Failed" })
    .waitFor({ timeout: 45_000 })
    .then(() => true)
    .catch(() => false);
  check("…and it does: the delivery turns Failed without a reload", refreshed);
  const attempts = await page.locator("article.attempt").count();
  check(`three attempts are listed (${attempts})`, attempts === 3);
  check(
    "the receiver's hostile body shows as text",
    (await page.locator("pre").filter({ hasText: HOSTILE_BODY }).count()) >= 1,
  );
  check("errors in words", (await page.getByText("HTTP 500 Internal Server Error").count()) >= 1);
  check("no injected script ran", (await xssRan()) === null);
  await audit(page, "delivery failed");
  await shot("delivery-failed");
  const failedDeliveryPath = new URL(page.url()).pathname;
  await visit("/portal", "endpoints");
  check(
    "the endpoint shows Failing, not Active",
    (await page.locator("main .badge", { hasText: "Failing" }).count()) === 1,
  );
  check(
    "…with its last error and time",
    (await page.getByText(/Last error: HTTP 500 Internal Server Error/).count()) === 1,
  );
  await shot("endpoints-failing");
  // Turn it off, as an admin would while the receiver is down; the retry then offers to turn it on again.
  await page.goto(`${base}${webhookPath}`);
  await page.getByRole("button", { name: "Disable endpoint" }).click();
  await page.getByText("Endpoint disabled").waitFor();
  failing = false;
  await page.goto(`${base}${failedDeliveryPath}`);
  await page.getByRole("button", { name: "Enable endpoint and retry" }).click();
  await page.getByText("Endpoint enabled and the retry queued").waitFor();
  check("enable and retry: the delivery succeeds", await waitForStatus(failedDeliveryPath, "Succeeded"));
  check("…as a fourth attempt", (await page.locator("article.attempt").count()) === 4);

  section("Recover failed deliveries with date and time pickers, a count, the 202 result");
  failing = true;
  await publish({ email: "hopper@example.com" });
  check(
    "another delivery fails for good",
    await waitForStatus(`${webhookPath}/deliveries?status=failed`, "Failed", 45_000),
  );
  failing = false;
  await page.goto(`${base}${webhookPath}`);
  await page.getByRole("link", { name: "Recover failed since…" }).click();
  await page.waitForURL(/\/recover$/);
  const since = new Date(Date.now() - 30 * 60_000).toISOString().slice(0, 16);
  await page.getByLabel("Failed since (UTC)").fill(since);
  await page.getByRole("button", { name: "Count" }).click();
  await page.locator("#preview").waitFor();
  const previewText = await page.locator("#preview h2").textContent();
  check(`the count before confirming: "${previewText}"`, previewText.trim() === "This will resend 1 delivery");
  await audit(page, "recover");
  await shot("recover");
  await page.getByRole("button", { name: /Recover: resend 1 delivery/ }).click();
  await page.locator("#recovery-result").waitFor();
  check(
    "the 202 result",
    (await page.locator("#recovery-result").textContent()).includes("Recovery accepted (202): 1 delivery queued again"),
  );
  await everyMinute(); // the request recovered the window's first hour; the every-minute cron goes on from there
  const recoveredBy = Date.now() + 20_000;
  while (received.filter((r) => r.body.includes("hopper@")).length < 4 && Date.now() < recoveredBy)
    await page.waitForTimeout(500);
  check("the recovered delivery is sent again", received.filter((r) => r.body.includes("hopper@")).length === 4);

  section("Replay what a disabled endpoint missed, right after re-enabling it");
  await page.goto(`${base}${webhookPath}`);
  await page.getByRole("button", { name: "Disable endpoint" }).click();
  await page.getByText("Endpoint disabled").waitFor();
  const missedFrom = received.length;
  await publish({ email: "missed.one@example.com" });
  await publish({ email: "missed.two@example.com" });
  await page.goto(`${base}${webhookPath}`);
  check("the overview counts what it missed", (await page.getByText("It has missed 2 events").count()) === 1);
  await page.locator("#disabled-notice").getByRole("button", { name: "Enable endpoint" }).click();
  await page.locator("#enabled-notice").waitFor();
  await audit(page, "endpoint enabled, replay offered");
  await page.getByRole("link", { name: "Replay the 2 missed events…" }).click();
  await page.locator("#preview").waitFor();
  check(
    "the replay previews its count",
    (await page.locator("#preview h2").textContent()).trim() === "This will send 2 missed events",
  );
  await audit(page, "replay");
  await shot("replay");
  await page.getByRole("button", { name: /Replay: send 2 missed events/ }).click();
  await page.locator("#recovery-result").waitFor();
  check(
    "the 202 result",
    (await page.locator("#recovery-result").textContent()).includes("Replay accepted (202): 2 deliveries created"),
  );
  await everyMinute();
  const until = Date.now() + 20_000;
  while (received.slice(missedFrom).filter((r) => r.body.includes("missed.")).length < 2 && Date.now() < until)
    await page.waitForTimeout(500);
  check(
    "the receiver got both missed events",
    received.slice(missedFrom).filter((r) => r.body.includes("missed.")).length === 2,
  );

  section("Filters");
  await page.goto(`${base}${webhookPath}/deliveries`);
  expectFailure(/[?&]status_code=abc/); // a 422 page, on purpose
  await page.getByLabel("Last status code").fill("abc");
  await page.getByRole("button", { name: "Filter" }).click();
  check(
    "status code abc is refused, not ignored",
    (await page.getByText("A status code is three digits").count()) === 1,
  );
  await audit(page, "deliveries (invalid filter)");
  await page.goto(`${base}${webhookPath}/deliveries?event_type=user.created&since=1h`);
  check("event type + since in the URL", (await page.locator("tbody tr").count()) >= 5);
  const typeOptions = await page.locator("#f-type option").allTextContents();
  check(
    "the type filter offers the endpoint's own types",
    typeOptions.includes("group.member_added") && !typeOptions.includes("group.created"),
    typeOptions.join(","),
  );

  section("A test with a catalog example; a reload sends nothing");
  await page.goto(`${base}${webhookPath}`);
  const beforeTest = received.length;
  await page.getByLabel("Event to send").selectOption("user.created");
  await page.getByRole("button", { name: "Send test event" }).click();
  await page.locator("#test-result").waitFor();
  check("the test's outcome", (await page.locator("#test-result").textContent()).includes("Test event delivered"));
  const example = received.slice(beforeTest).map((r) => JSON.parse(r.body));
  check(
    "the receiver got the catalog's example",
    example.length === 1 && example[0].event_type === "user.created" && example[0].data.email === "ada@example.com",
  );
  await audit(page, "endpoint (test result)");
  await page.reload();
  check("after a reload: no second test sent", received.length === beforeTest + 1);
  check("…and the result is not shown again", (await page.locator("#test-result").count()) === 0);

  section("Rotate; a reload keeps the secret just copied");
  await page.getByRole("link", { name: "Rotate secret…" }).click();
  await audit(page, "rotate");
  await page.getByLabel("Keep the old secret for 1 hour").check();
  await page.getByRole("button", { name: "Rotate secret" }).click();
  const secret2 = (await page.locator("#secret-value").textContent()).trim();
  check("rotate shows a new secret", /^whsec_/.test(secret2) && secret2 !== secret1);
  check(
    "…and says until when the old one works",
    (await page.getByText("The previous secret keeps signing until").count()) === 1,
  );
  await page.reload();
  check("after a reload: no secret shown", (await page.locator("#secret-value").count()) === 0);
  const beforeSigned = received.length;
  await publish({ email: "signed@example.com" });
  const signedUntil = Date.now() + 20_000;
  while (received.length === beforeSigned && Date.now() < signedUntil) await page.waitForTimeout(300);
  const signed = received[beforeSigned];
  const [t, ...v1] = (signed?.headers["x-scaikey-signature"] ?? "").split(",");
  const expected =
    signed &&
    createHmac("sha256", secret2)
      .update(`${t.slice(2)}.${signed.body}`)
      .digest("hex");
  check("the secret copied after rotating still signs (the reload rotated nothing)", v1.includes(`v1=${expected}`));
  await page.goto(`${base}${webhookPath}`);
  await audit(page, "endpoint");
  await shot("endpoint");

  section("An endpoint the receiver removed (410 Gone) says so");
  await apiCall("POST", "/api/v1/admin/webhooks/", {
    url: `${receiverUrl}/gone`,
    description: "Legacy import",
    events: ["user.*"],
  });
  await publish({ email: "gone@example.com" });
  const goneUntil = Date.now() + 20_000;
  let goneShown = false;
  while (!goneShown && Date.now() < goneUntil) {
    await page.goto(`${base}/portal`);
    goneShown = (await page.getByText("receiver answered 410 Gone").count()) === 1;
    if (!goneShown) await page.waitForTimeout(1000);
  }
  check("the real reason: 410 Gone", goneShown);

  section("The log across endpoints, and search");
  await page.getByRole("link", { name: "Deliveries", exact: true }).first().click();
  await page.waitForURL(`${base}/portal/deliveries`);
  const endpointsInLog = new Set(await page.locator("tbody td[data-label=Endpoint]").allTextContents());
  check(`the log lists both endpoints' deliveries (${[...endpointsInLog].length})`, endpointsInLog.size === 2);
  await audit(page, "deliveries (all endpoints)");
  await shot("deliveries-all");
  await page.getByLabel("Event ID").fill(failedPub.body.event_id);
  await page.getByRole("button", { name: "Filter" }).click();
  check("search by event id: its one delivery", (await page.locator("tbody tr").count()) === 1);
  await page.goto(`${base}/portal/deliveries`);
  await page.getByLabel("Resource ID").fill("usr_ada");
  await page.getByRole("button", { name: "Filter" }).click();
  check("search by resource id: its one delivery", (await page.locator("tbody tr").count()) === 1);
  await audit(page, "deliveries (search)");

  section("Stats");
  await page.goto(`${base}${webhookPath}`);
  await page.getByRole("link", { name: "Stats" }).click();
  await page.waitForURL(`${base}${webhookPath}/stats`);
  const okBars = await page.locator("svg.chart rect.bar-ok").count();
  const badBars = await page.locator("svg.chart rect.bar-bad").count();
  check(`the stats chart shows successes and failures (${okBars} / ${badBars} bars)`, okBars >= 1 && badBars >= 1);
  check("the latency chart has its p50/p95 lines", (await page.locator("svg.chart line.ref-p95").count()) === 1);
  check("buckets say they are UTC", (await page.getByText("in UTC like every time in the portal").count()) === 1);
  await audit(page, "stats");
  await shot("stats");
  // The endpoint the receiver removed: its delivery ended on a 410, so its 4xx count links to that delivery.
  const gone = (await apiCall("GET", "/api/v1/admin/webhooks/")).body.items.find((w) => w.url.endsWith("/gone"));
  await page.goto(`${base}/portal/webhooks/${gone.id}/stats`);
  await page.locator("#failures-h + table a").first().click();
  await page.waitForURL(/\/deliveries\?error=4xx/);
  check("a failure count links to its deliveries", (await page.locator("tbody tr").count()) === 1);
  await page.goto(`${base}${webhookPath}/stats?window=7d`);
  check("7d window", (await page.locator("svg.chart").count()) === 2);
  await page.getByRole("link", { name: "Event catalog" }).click();
  await page.waitForURL(`${base}/portal/events`);
  await page.locator("summary", { hasText: "user.created" }).click();
  check(
    "catalog shows an example payload",
    (await page.locator("pre").filter({ hasText: '"event_type": "user.created"' }).count()) === 1,
  );
  check("a tenant's catalog leaves out partner events", (await page.getByText("partner.created").count()) === 0);
  await audit(page, "event catalog");
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
    (await page.locator("svg.spark").count()) === 3 &&
      (await page.locator(".badge", { hasText: /^Disabled$/ }).count()) === 1 &&
      (await page.locator("td.num b").allTextContents()).some((t) => /^\d+(\.\d)?%$/.test(t)),
  );
  await audit(page, "endpoints (three)");
  await shot("endpoints");
  await page.goto(`${base}${webhookPath}`);
  const time = page.locator("main time").first();
  check(
    "times in UTC, the viewer's own on hover",
    (await time.textContent()).endsWith("UTC") && ((await time.getAttribute("title")) ?? "").startsWith("Your time: "),
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
  watch(phonePage);
  for (const [name, path] of [
    ["endpoints", "/portal"],
    ["endpoint", webhookPath],
    ["deliveries", `${webhookPath}/deliveries`],
    ["delivery", failedDeliveryPath],
    ["stats", `${webhookPath}/stats`],
  ]) {
    await phonePage.goto(`${base}${path}`);
    const overflow = await phonePage.evaluate(
      () => document.documentElement.scrollWidth - document.documentElement.clientWidth,
    );
    check(`${name} fits a phone's width (overflow ${overflow}px)`, overflow <= 0);
    await audit(phonePage, `${name} (phone)`);
    await phonePage.screenshot({ path: join(SHOTS, `${name}-phone.png`), fullPage: true });
  }
  await phonePage.goto(`${base}${webhookPath}/deliveries`);
  const rowBox = await phonePage.locator("tbody tr").first().boundingBox();
  const statusBox = await phonePage.locator("tbody tr").first().locator(".badge").boundingBox();
  const timeBox = await phonePage.locator("tbody tr").first().locator("time").boundingBox();
  check(
    "on a phone each delivery's status and time are in view, without scrolling sideways",
    statusBox &&
      timeBox &&
      statusBox.x + statusBox.width <= 390 &&
      timeBox.x + timeBox.width <= 390 &&
      rowBox.width <= 390,
  );
  await phonePage.goto(`${base}${webhookPath}/stats`);
  const labelPx = await phonePage.evaluate(() =>
    Math.min(
      ...[...document.querySelectorAll("svg.chart text")]
        .filter((t) => t.getClientRects().length > 0)
        .map((t) => t.getBoundingClientRect().height),
    ),
  );
  check(`chart labels stay legible on a phone (${labelPx.toFixed(1)} px)`, labelPx >= 9);
  const clipped = await phonePage.evaluate(() =>
    [...document.querySelectorAll("svg.chart text")]
      .filter((t) => {
        if (t.getClientRects().length === 0) return false; // hidden at this width
        const box = t.getBoundingClientRect();
        const svg = t.ownerSVGElement.getBoundingClientRect();
        return box.top < svg.top - 0.5 || box.right > svg.right + 0.5 || box.left < svg.left - 0.5;
      })
      .map((t) => t.textContent),
  );
  check("no chart label is clipped", clipped.length === 0, clipped.join(", "));
  await phone.close();

  section("Keyboard only");
  await page.goto(`${base}/portal`);
  const tabTo = async (predicate, max = 120) => {
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
  await page.getByRole("link", { name: "Delete endpoint…" }).click();
  await audit(page, "delete");

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
  await audit(page, "endpoint edit");
  expectFailure(link.url);
  const reused = await page.goto(link.url);
  check(
    "a reused link: 410 and a clear page",
    reused.status() === 410 && (await page.getByRole("heading", { name: "This link was already used" }).count()) === 1,
  );
  await audit(page, "link used");
  const other = await apiCall(
    "POST",
    "/api/v1/admin/webhooks/",
    { url: `${receiverUrl}/other`, events: ["*"] },
    mintToken(jwtSecret, { role: "tenant_admin", tenant_id: "tnt_other", scope: "admin:read admin:write" }),
  );
  expectFailure(`${base}/portal/webhooks/${other.body.id}`);
  expectFailure(`${base}/portal/webhooks/${other.body.id}/deliveries`);
  const otherPage = await page.goto(`${base}/portal/webhooks/${other.body.id}`);
  check(
    "another tenant's webhook id: 404",
    otherPage.status() === 404 && (await page.getByRole("heading", { name: "Not found" }).count()) === 1,
  );
  await audit(page, "not found");
  await page.goto(`${base}/portal/webhooks/${other.body.id}/deliveries`);
  check("…and its deliveries: 404", (await page.getByRole("heading", { name: "Not found" }).count()) === 1);

  const readOnly = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const roPage = await readOnly.newPage();
  watch(roPage);
  await roPage.goto((await issueLink({ read_only: true })).url);
  await roPage.waitForURL(`${base}/portal`);
  check(
    "read-only: no write buttons",
    (await roPage.getByText("Read-only").count()) === 1 &&
      (await roPage.getByRole("link", { name: "+ Add endpoint" }).count()) === 0,
  );
  await audit(roPage, "endpoints (read-only)");
  expectFailure(`${base}/portal/webhooks/new`);
  const roNew = await roPage.goto(`${base}/portal/webhooks/new`);
  check("read-only: the create form is a 403", roNew.status() === 403);
  await audit(roPage, "not allowed");
  await roPage.goto(`${base}${webhookPath}`);
  expectFailure(`${base}${webhookPath}/delete`);
  const roWrite = await roPage.evaluate(async (path) => {
    const csrf = document.querySelector("input[name=_csrf]")?.value ?? "";
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
  watch(expiredPage);
  expectFailure(expiring.url);
  expectFailure(`${base}/portal`);
  const expired = await expiredPage.goto(expiring.url);
  check(
    "an expired link: 410 and a clear page",
    expired.status() === 410 &&
      (await expiredPage.getByRole("heading", { name: "This link has expired" }).count()) === 1,
  );
  await audit(expiredPage, "link expired");
  await expiredPage.screenshot({ path: join(SHOTS, "link-expired-desktop.png") });
  const noSession = await expiredPage.goto(`${base}/portal`);
  check("without a session: 401 page", noSession.status() === 401);
  await audit(expiredPage, "session ended");
  await expiredContext.close();

  section(`axe-core ran on ${audited.size} screens`);
  check("no request left the Worker's origin", foreign.length === 0, foreign.join(", "));
  check("no dialog opened (no injected script ran)", dialogs.length === 0, dialogs.join(", "));
  check("no console error (CSP violations included)", consoleErrors.length === 0, consoleErrors.join(" | "));
  check("no serious or critical axe violation anywhere", axeFindings.length === 0, axeFindings.join(" | "));
  check("window.__xss never set", (await xssRan()) === null);
  passed = test.info().errors.length === 0;
});
