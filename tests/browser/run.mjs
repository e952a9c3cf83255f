// The portal's proof (issue 22), in Debian's Chromium driven by Playwright: start `strongroom dev`, sign in as
// dev-user with the password, and do what a person does — see vault dev, create a secret and reveal it (and find
// the SecretGet in the audit log), create a key and a certificate, add and remove a role assignment for a second
// user, be refused in words as that user, be refused by the firewall, sign out and find the session gone — then
// the refusals: a wrong password, a CSRF-less post, a locked account. Each scenario prints its name and time, and
// every page visited is kept as a screenshot (see harness.mjs). Exits with the test's status.
//
//   STRONGROOM_BIN=target/release/strongroom node tests/browser/run.mjs
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { DevServer, launchChromium, Screenshots } from "./harness.mjs";

const SESSION_COOKIE = "__Host-strongroom-portal";
const binary = process.env.STRONGROOM_BIN ?? "strongroom";

let server;
let browser;
/** The page the scenario is on: shown and photographed when a step fails. */
let page;
const shots = new Screenshots();
const browserErrors = [];
const state = {
  secret: { name: "database-password", value: `s3cret-${randomBytes(6).toString("hex")}` },
  key: "signing-key",
  certificate: "web-certificate",
  second: { upn: "second@dev", displayName: "Second User", password: `Second-${randomBytes(9).toString("base64url")}` },
  third: { upn: "third@dev", displayName: "Third User", password: `Third-${randomBytes(9).toString("base64url")}` },
};

// ---- helpers a person's actions are written with ----

/** `text` as a regular expression that matches it literally. */
const literal = (text) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
/** The form field labelled `label`, alone or followed by a hint in parentheses ("IP rules (one … per line)"). */
// (Playwright matches a pattern against the label's raw text, spaces around it included.)
const field = (scope, label) => scope.getByLabel(new RegExp(`^\\s*${literal(label)}(\\s*\\(.*\\))?\\s*$`, "s"));
const portal = (path = "") => `${server.portal}${path}`;
const devUser = () => ({ upn: server.env.AZURE_USERNAME, password: server.env.AZURE_PASSWORD });

async function newPage() {
  const context = await browser.newContext({ ignoreHTTPSErrors: false, viewport: { width: 1280, height: 800 } });
  context.setDefaultTimeout(15_000);
  context.setDefaultNavigationTimeout(20_000);
  const opened = await context.newPage();
  opened.on("dialog", (dialog) => dialog.accept());
  opened.on("console", (message) => {
    // A page's own status (a refusal's 403, a wrong password's 400) is no error of the page.
    const source = message.location().url;
    if (message.type() === "error" && !(source === opened.url() && /^Failed to load resource/.test(message.text()))) {
      browserErrors.push(`${opened.url()}: ${message.text()} (${message.location().url || "no source"})`);
    }
  });
  opened.on("pageerror", (error) => browserErrors.push(`${opened.url()}: ${error.message}`));
  page = opened;
  return opened;
}

/** Retries `check` (which asserts) until it passes or `seconds` run out; then throws its last failure. */
async function eventually(check, seconds = 10) {
  const deadline = Date.now() + seconds * 1000;
  for (;;) {
    try {
      return await check();
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }
}

async function waitForPath(path) {
  await page.waitForURL((url) => url.pathname === path);
}

async function h1() {
  return (await page.locator("h1").first().innerText()).trim();
}

/** Clicks `target` and waits for the page it leads to (a link followed, a form posted) to load. */
async function clickThrough(target) {
  const navigated = page.waitForEvent("framenavigated", (frame) => frame === page.mainFrame());
  navigated.catch(() => {}); // awaited below, unless the click fails first
  await target.click();
  await navigated;
  await page.waitForLoadState();
}

/** Follows a link in the vault's navigation (`nav[aria-label="Vault"]`). */
async function vaultNav(name) {
  await clickThrough(page.locator('nav[aria-label="Vault"]').getByRole("link", { name, exact: true }));
}

/** Goes to vault dev's overview and from there, through the vault navigation, to `name`'s page. */
async function openVaultPage(name, path) {
  await page.goto(portal("vaults/dev"));
  await vaultNav(name);
  if (path) await waitForPath(path);
}

async function alertText() {
  return (await page.locator('[role="alert"]').allInnerTexts()).join(" | ");
}

async function sessionCookie(context = page.context()) {
  return (await context.cookies()).find((cookie) => cookie.name === SESSION_COOKIE);
}

/** From the signed-out portal: "Sign in" → the authority's sign-in page → submit. Does not wait for the result. */
async function submitSignIn({ upn, password }, what) {
  await page.goto(portal());
  await clickThrough(page.getByRole("link", { name: "Sign in", exact: true }));
  await field(page, "User name").waitFor();
  if (what) await shots.take(page, what);
  await field(page, "User name").fill(upn);
  await field(page, "Password").fill(password);
  await clickThrough(page.getByRole("button", { name: "Sign in", exact: true }));
}

async function signIn(user) {
  await newPage();
  await submitSignIn(user);
  await waitForPath("/portal/");
}

async function signOut() {
  await clickThrough(page.getByRole("button", { name: "Sign out", exact: true }));
}

/** What the page showed, for a failure's report. */
async function describePage() {
  if (!page || page.isClosed()) return "(no page)";
  const text = await page
    .locator("body")
    .innerText({ timeout: 2000 })
    .catch(() => "(no body)");
  const heading = await page
    .locator("h1")
    .first()
    .innerText({ timeout: 1000 })
    .catch(() => "(none)");
  const alerts = await alertText().catch(() => "");
  return [
    `url:    ${page.url()}`,
    `h1:     ${heading}`,
    `alerts: ${alerts || "(none)"}`,
    `text:   ${text.replace(/\s+/g, " ").slice(0, 600)}`,
  ].join("\n");
}

/** A request from outside the browser carrying a session cookie (a replayed or stolen one). */
function withCookie(cookie, path, options = {}) {
  return server.request(portal(path), {
    ...options,
    headers: { cookie: `${SESSION_COOKIE}=${cookie.value}`, ...options.headers },
  });
}

// ---- the scenario, in order ----

const scenarios = [
  {
    name: "1. dev-user signs in with user name and password (authorization code + PKCE through /authorize)",
    essential: true,
    async run() {
      const user = devUser();
      assert.ok(user.upn && user.password, "dev.env has AZURE_USERNAME and AZURE_PASSWORD");
      await newPage();
      await page.goto(portal());
      await shots.take(page, "signed-out");
      await clickThrough(page.getByRole("link", { name: "Sign in", exact: true }));
      const username = field(page, "User name");
      await username.waitFor();
      assert.equal(await username.getAttribute("autocomplete"), "username");
      assert.equal(await field(page, "Password").getAttribute("autocomplete"), "current-password");
      await shots.take(page, "sign-in");
      await username.fill(user.upn);
      await field(page, "Password").fill(user.password);
      await clickThrough(page.getByRole("button", { name: "Sign in", exact: true }));
      await waitForPath("/portal/");
      const cookie = await sessionCookie();
      assert.ok(cookie, `the portal set its session cookie ${SESSION_COOKIE}`);
      assert.equal(cookie.httpOnly, true, "the session cookie is HttpOnly");
      assert.equal(cookie.secure, true, "the session cookie is Secure");
      assert.ok(["Strict", "Lax"].includes(cookie.sameSite), `the session cookie is SameSite (${cookie.sameSite})`);
    },
  },
  {
    name: "2. the home page lists vault dev (under a strict CSP, with no token or readable cookie in the page)",
    essential: true,
    async run() {
      const response = await page.goto(portal());
      assert.equal(await h1(), "Vaults");
      const policy = response.headers()["content-security-policy"] ?? "";
      assert.match(policy, /default-src 'none'/, `a strict Content-Security-Policy (${policy})`);
      assert.doesNotMatch(policy, /unsafe-inline|unsafe-eval/, "no inline script or style allowed");
      assert.doesNotMatch(await page.content(), /eyJ[\w-]+\.eyJ/, "no token in the page");
      assert.equal(await page.evaluate(() => document.cookie), "", "no cookie a script can read");
      await shots.take(page, "vaults");
      const dev = page.getByRole("main").getByRole("link", { name: "dev", exact: true });
      assert.equal(await dev.count(), 1, 'one link "dev" in the page\'s main content');
      assert.match(await dev.getAttribute("href"), /\/portal\/vaults\/dev$/);
      await clickThrough(dev);
      await waitForPath("/portal/vaults/dev");
      await shots.take(page, "vault-overview");
    },
  },
  {
    name: "3. a secret is created and its value shown only on request",
    async run() {
      const { name, value } = state.secret;
      await openVaultPage("Secrets", "/portal/vaults/dev/secrets");
      const form = page.getByRole("group", { name: "New secret" });
      await field(form, "Name").fill(name);
      await field(form, "Value").fill(value);
      await shots.take(page, "secrets-new");
      await clickThrough(form.getByRole("button", { name: "Create secret", exact: true }));
      await page.waitForURL((url) => url.pathname.startsWith(`/portal/vaults/dev/secrets/${name}`));
      assert.equal(await h1(), name);
      assert.ok(!(await page.content()).includes(value), "the value is not in the page before Show value");
      await shots.take(page, "secret");
      await page.getByRole("button", { name: "Show value", exact: true }).click();
      await eventually(async () => assert.equal((await page.locator("#secret-value").innerText()).trim(), value));
      assert.ok(await page.getByRole("button", { name: "Copy", exact: true }).isVisible(), 'a "Copy" button');
      await shots.take(page, "secret-shown");
      await vaultNav("Secrets");
      await page.getByRole("link", { name, exact: true }).waitFor();
      await shots.takeReadmeImage(page, "secrets");
    },
  },
  {
    name: "4. the audit log, filtered by operation, shows the SecretGet",
    async run() {
      await openVaultPage("Audit log", "/portal/vaults/dev/audit");
      await shots.take(page, "audit");
      await field(page, "Operation").fill("SecretGet");
      await clickThrough(page.getByRole("button", { name: "Filter", exact: true }));
      const rows = page.locator("table#audit tbody tr").filter({ has: page.locator("td") });
      await eventually(async () => {
        const texts = await rows.allInnerTexts();
        assert.ok(texts.length > 0, "the filtered audit log has rows");
        for (const text of texts) assert.match(text, /SecretGet/, "every row of the filtered log is a SecretGet");
        assert.ok(texts.some((text) => text.includes("dev-user")), "a SecretGet names dev-user as its caller");
      });
      await shots.take(page, "audit-secretget");
    },
  },
  {
    name: "5. a key is created",
    async run() {
      await openVaultPage("Keys", "/portal/vaults/dev/keys");
      const form = page.getByRole("group", { name: "New key" });
      await field(form, "Name").fill(state.key);
      const keyType = field(form, "Key type");
      const options = (await keyType.locator("option").allInnerTexts()).map((text) => text.trim());
      for (const kty of ["RSA", "EC", "RSA-HSM", "EC-HSM"]) assert.ok(options.includes(kty), `key type ${kty} offered`);
      await keyType.selectOption({ label: "EC" });
      await shots.take(page, "keys-new");
      await clickThrough(form.getByRole("button", { name: "Create key", exact: true }));
      await page.waitForURL((url) => url.pathname.startsWith(`/portal/vaults/dev/keys/${state.key}`));
      assert.equal(await h1(), state.key);
      await shots.take(page, "key");
    },
  },
  {
    name: "6. a self-signed certificate is created and completes",
    async run() {
      const name = state.certificate;
      await openVaultPage("Certificates", "/portal/vaults/dev/certificates");
      const form = page.getByRole("group", { name: "New certificate" });
      await field(form, "Name").fill(name);
      assert.equal(await field(form, "Subject").inputValue(), "CN=example.com");
      await field(form, "Validity (months)").waitFor();
      await shots.take(page, "certificates-new");
      await clickThrough(form.getByRole("button", { name: "Create certificate", exact: true }));
      await page.waitForURL((url) => url.pathname.startsWith(`/portal/vaults/dev/certificates/${name}`));
      assert.equal(await h1(), name);
      // Issued at once or pending for a moment: the page is reloaded until it shows the status "completed" or
      // the current version's thumbprint.
      await eventually(async () => {
        const text = await page.locator("main").innerText();
        const thumbprint = (await page.locator("#thumbprint").allInnerTexts()).join("").trim();
        if (!/\bcompleted\b/i.test(text) && !thumbprint) {
          await page.reload();
          assert.fail(`the certificate's page shows neither "completed" nor a thumbprint: ${text.slice(0, 300)}`);
        }
      }, 20);
      await shots.take(page, "certificate");
    },
  },
  {
    name: "7. a role assignment for a second user is added and removed",
    async run() {
      const { upn, displayName, password } = state.second;
      const created = await server.createUser(upn, displayName, password);
      await openVaultPage("Access control", "/portal/vaults/dev/access");
      const form = page.getByRole("group", { name: "Add role assignment" });
      await field(form, "Role").selectOption({ label: "Key Vault Secrets User" });
      await field(form, "Principal").fill(upn);
      const scope = await field(form, "Scope").inputValue();
      assert.equal(scope, "", "the scope is left empty: the whole vault");
      await shots.take(page, "access-new");
      await clickThrough(form.getByRole("button", { name: "Add role assignment", exact: true }));
      const row = page
        .locator("table#role-assignments tr")
        // The user by name, display name (as Graph stored it) or object id.
        .filter({ hasText: new RegExp([upn, created.displayName, created.id].map(literal).join("|")) })
        .filter({ hasText: "Key Vault Secrets User" });
      await eventually(async () => assert.equal(await row.count(), 1, "the new assignment is listed once"));
      await shots.take(page, "access-added");
      await clickThrough(row.getByRole("button", { name: "Remove", exact: true }));
      await eventually(async () => assert.equal(await row.count(), 0, "the assignment is gone"));
      await shots.take(page, "access-removed");
    },
  },
  {
    name: "8. signed in as the second user (no role now), the vault refuses in words",
    async run() {
      await signOut();
      await shots.take(page, "signed-out-dev-user");
      await page.context().close();
      await signIn(state.second);
      await shots.take(page, "second-user-home");
      await page.goto(portal("vaults/dev/secrets"));
      await eventually(async () => assert.match(await alertText(), /not allowed by RBAC/));
      await shots.take(page, "second-user-refused");
      await page.context().close();
    },
  },
  {
    name: "9. a firewall rule that excludes the browser: the vault says the client address is not authorized",
    async run() {
      await signIn(devUser());
      await openVaultPage("Networking");
      await field(page, "Default action").selectOption({ label: "Deny" });
      await field(page, "IP rules").fill("10.9.8.0/24");
      await clickThrough(page.getByRole("button", { name: "Save networking", exact: true }));
      await shots.take(page, "networking-deny");
      await vaultNav("Secrets");
      await eventually(async () => assert.match(await alertText(), /Client address is not authorized/));
      await shots.take(page, "secrets-firewalled");
      // The networking page is the control plane's, which the vault firewall does not guard: it opens the vault again.
      await openVaultPage("Networking");
      await field(page, "Default action").selectOption({ label: "Allow" });
      await field(page, "IP rules").fill("");
      await clickThrough(page.getByRole("button", { name: "Save networking", exact: true }));
      await vaultNav("Secrets");
      await page.getByRole("link", { name: state.secret.name, exact: true }).waitFor();
      assert.equal(await alertText(), "", "no alert once the firewall allows again");
    },
  },
  {
    name: "10. after sign-out the session is gone: its cookie, replayed, does not open the vault",
    async run() {
      const cookie = await sessionCookie();
      assert.ok(cookie, "signed in, the browser holds the session cookie");
      const before = await withCookie(cookie, "vaults/dev/secrets");
      assert.equal(before.status, 200, "the cookie works from outside the browser while the session lives");
      assert.ok(before.body.includes(state.secret.name), "and shows the vault's secrets");
      await signOut();
      await shots.take(page, "signed-out-again");
      assert.equal(await sessionCookie(), undefined, "sign-out removes the cookie from the browser");
      const after = await withCookie(cookie, "vaults/dev/secrets");
      assert.ok(
        !(after.status === 200 && after.body.includes(state.secret.name)),
        `the replayed cookie is refused (got ${after.status})`,
      );
      await page.goto(portal("vaults/dev/secrets"));
      assert.ok(!(await page.locator("body").innerText()).includes(state.secret.name), "the browser sees no secrets");
      await shots.take(page, "signed-out-vault");
      await page.context().close();
    },
  },
  {
    name: "11a. a wrong password is refused, with no session",
    async run() {
      await newPage();
      await submitSignIn({ upn: devUser().upn, password: "not-the-password" });
      // Entra's AADSTS50126 words, not just any error (a form refused as forged would show one too).
      await eventually(async () => assert.match(await alertText(), /invalid username or password/i));
      await field(page, "Password").waitFor();
      assert.equal(await sessionCookie(), undefined, "no session");
      await shots.take(page, "wrong-password");
      await page.context().close();
    },
  },
  {
    name: "11b. a post without the CSRF token is refused (403) and changes nothing",
    async run() {
      await signIn(devUser());
      await openVaultPage("Secrets", "/portal/vaults/dev/secrets");
      const cookie = await sessionCookie();
      const newSecret = page.locator("form", { has: page.getByRole("group", { name: "New secret" }) });
      const csrf = await newSecret.locator('input[name="csrf"]').inputValue();
      assert.ok(csrf, "the form carries a CSRF token");
      const post = (fields) =>
        withCookie(cookie, "vaults/dev/secrets", {
          method: "POST",
          headers: { "content-type": "application/x-www-form-urlencoded", origin: `https://localhost:${server.port}` },
          body: new URLSearchParams(fields).toString(),
        });
      const refused = await post({ name: "csrf-less", value: "y" });
      assert.equal(refused.status, 403, "the CSRF-less post is refused");
      assert.equal(await server.secretStatus("csrf-less"), 404, "and no secret was written");
      // The control: the same post with the token does write, so the refusal above is the CSRF check's.
      const accepted = await post({ name: "csrf-control", value: "y", enabled: "true", csrf });
      assert.ok(accepted.status < 400, `the same post with the token is accepted (got ${accepted.status})`);
      assert.equal(await server.secretStatus("csrf-control"), 200, "and writes the secret");
      await signOut();
      await page.context().close();
    },
  },
  {
    name: "12. with 1,000 secrets every page answers in under 100 ms; at phone width nothing is wider than the window; the keyboard alone creates a secret",
    async run() {
      await server.seedSecrets(1000);
      await signIn(devUser());
      const pages = ["", "vaults/dev", "vaults/dev/secrets", "vaults/dev/secrets/bulk-0500", "vaults/dev/keys",
        "vaults/dev/certificates", "vaults/dev/deleted", "vaults/dev/access", "vaults/dev/networking",
        "vaults/dev/audit", "vaults/dev/audit?operation=SecretGet", "directory"];
      const timings = [];
      for (const path of pages) {
        const response = await page.goto(portal(path));
        const serverTime = Number(/dur=([\d.]+)/.exec(response.headers()["server-timing"] ?? "")?.[1]);
        assert.ok(Number.isFinite(serverTime), `${path || "home"} states its server time`);
        timings.push(`${path || "home"} ${serverTime} ms`);
        assert.ok(serverTime < 100, `${path || "home"} took ${serverTime} ms of server time`);
      }
      console.log(indent(`server time: ${timings.join(", ")}`));
      const secrets = await page.goto(portal("vaults/dev/secrets"));
      assert.equal(secrets.status(), 200);
      assert.equal(await page.locator("table#secrets tbody tr").count(), 25, "lists are paged");
      await clickThrough(page.getByRole("link", { name: "Next page", exact: true }));
      assert.equal(await page.locator("table#secrets tbody tr").count(), 25, "the next page has the next 25");

      await page.setViewportSize({ width: 390, height: 844 });
      for (const path of ["", "vaults/dev", "vaults/dev/secrets", "vaults/dev/access", "vaults/dev/networking", "vaults/dev/audit"]) {
        await page.goto(portal(path));
        const width = await page.evaluate(() => document.documentElement.scrollWidth);
        assert.ok(width <= 390, `${path || "home"} is ${width} px wide at a 390 px window`);
        await shots.take(page, `phone-${path.replaceAll("/", "-") || "home"}`);
      }
      await page.setViewportSize({ width: 1280, height: 800 });

      // Keyboard only: the first Tab reaches "Skip to content", which moves focus to the main content; the
      // form's fields follow in order, and Enter in the last text field submits it.
      await page.goto(portal("vaults/dev/secrets"));
      await page.keyboard.press("Tab");
      assert.equal(await page.evaluate(() => document.activeElement?.textContent?.trim()), "Skip to content");
      await page.keyboard.press("Enter");
      assert.equal(await page.evaluate(() => document.activeElement?.id), "main");
      await field(page, "Name").focus();
      await page.keyboard.type("typed-by-keyboard");
      await page.keyboard.press("Tab");
      await page.keyboard.type("typed value");
      const submitted = page.waitForURL((url) => url.pathname === "/portal/vaults/dev/secrets/typed-by-keyboard");
      await page.keyboard.press("Tab"); // Content type
      await page.keyboard.press("Enter");
      await submitted;
      assert.equal(await h1(), "typed-by-keyboard");
      await signOut();
      await page.context().close();
    },
  },
  {
    // Last: ten failures lock this address for a minute, every sign-in with it.
    name: "11c. ten wrong passwords lock the account: the right one is then refused",
    async run() {
      const { upn, displayName, password } = state.third;
      await server.createUser(upn, displayName, password);
      await newPage();
      await submitSignIn({ upn, password: "wrong-password-0" });
      for (let attempt = 1; attempt <= 10; attempt++) {
        await field(page, "User name").fill(upn);
        await field(page, "Password").fill(`wrong-password-${attempt}`);
        await clickThrough(page.getByRole("button", { name: "Sign in", exact: true }));
      }
      await field(page, "User name").fill(upn);
      await field(page, "Password").fill(password);
      await clickThrough(page.getByRole("button", { name: "Sign in", exact: true }));
      await eventually(async () => assert.match(await alertText(), /AADSTS50053|locked/i));
      assert.equal(await sessionCookie(), undefined, "no session");
      await shots.take(page, "locked-out");
      await page.context().close();
    },
  },
];

// ---- the run ----

const seconds = (since) => ((performance.now() - since) / 1000).toFixed(1);
const indent = (text) => String(text).replace(/^/gm, "      ");
let failures = 0;
const started = performance.now();
try {
  server = await DevServer.start(binary);
  browser = await launchChromium(server.caFile);
  console.log(`portal ${server.portal}, Chromium ${browser.version()}, screenshots in ${shots.dir}`);
  for (const scenario of scenarios) {
    const since = performance.now();
    try {
      await scenario.run();
      console.log(`ok    ${scenario.name} (${seconds(since)} s)`);
    } catch (error) {
      failures += 1;
      console.log(`FAIL  ${scenario.name} (${seconds(since)} s)`);
      console.log(indent(error.stack ?? error));
      console.log(indent(await describePage()));
      if (page && !page.isClosed()) {
        const file = await shots.take(page, "failed").catch(() => "(no screenshot)");
        console.log(indent(`screenshot: ${file}`));
      }
      if (scenario.essential) {
        console.log("      (the scenarios after it need it: stopping)");
        break;
      }
    }
  }
} catch (error) {
  failures += 1;
  console.log(`FAIL  setting up: ${error.stack ?? error}`);
} finally {
  if (failures > 0 && server) console.log(`server log (last lines):\n${indent(server.logTail())}`);
  if (browserErrors.length > 0) console.log(`browser console errors:\n${indent(browserErrors.join("\n"))}`);
  await browser?.close();
  await server?.stop();
}
console.log(`${failures === 0 ? "passed" : `${failures} failed`} in ${seconds(started)} s`);
process.exit(failures === 0 ? 0 : 1);
