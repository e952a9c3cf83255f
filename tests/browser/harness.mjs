// What the portal's browser test stands on: a real `strongroom dev` server, Debian's Chromium trusting the dev CA
// (and nothing else: certificate errors are never ignored), HTTPS requests from Node that trust the same CA, dev-app's
// Microsoft Graph calls, and numbered screenshots.
import { spawn, spawnSync } from "node:child_process";
import { copyFileSync, createWriteStream, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { lookup as systemLookup } from "node:dns";
import { request as httpsRequest } from "node:https";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const here = dirname(fileURLToPath(import.meta.url));
const repository = join(here, "..", "..");
const CHROMIUM = "/usr/bin/chromium";

/** A `strongroom dev` server on a free port, its dev.env and the CA its certificates chain to. */
export class DevServer {
  static async start(binary) {
    const dataDir = mkdtempSync(join(tmpdir(), "strongroom-browser-"));
    const child = spawn(binary, ["dev", "--listen", "127.0.0.1:0", "--data-dir", dataDir], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    child.stderr.pipe(createWriteStream(join(dataDir, "server.log")));
    const server = new DevServer(child, dataDir);
    try {
      server.port = await new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error("strongroom did not start within 60 s")), 60_000);
        child.on("error", (error) => reject(new Error(`strongroom (${binary}) could not be started: ${error.message}`)));
        child.on("exit", (code) => reject(new Error(`strongroom exited with ${code}`)));
        createInterface({ input: child.stdout }).on("line", (line) => {
          const listening = /^strongroom listening on https:\/\/[^ ]*:(\d+)/.exec(line);
          if (listening) {
            clearTimeout(timer);
            resolve(Number(listening[1]));
          }
        });
      });
    } catch (error) {
      error.message += `; its log ends:\n${server.logTail()}`;
      await server.stop();
      throw error;
    }
    server.env = {};
    for (const line of readFileSync(join(dataDir, "dev.env"), "utf8").split("\n")) {
      const match = /^export ([A-Z_]+)='(.*)'$/.exec(line);
      if (match) server.env[match[1]] = match[2];
    }
    server.caFile = server.env.REQUESTS_CA_BUNDLE;
    server.ca = readFileSync(server.caFile);
    return server;
  }

  constructor(child, dataDir) {
    this.process = child;
    this.dataDir = dataDir;
  }

  /** The last lines the server logged, to show when a step fails. */
  logTail(lines = 20) {
    try {
      return readFileSync(join(this.dataDir, "server.log"), "utf8").trimEnd().split("\n").slice(-lines).join("\n");
    } catch {
      return "(no server log)";
    }
  }

  /** `https://localhost:PORT/portal/`: the portal on the main listener. */
  get portal() {
    return `https://localhost:${this.port}/portal/`;
  }

  /** Stops the server (SIGTERM), waits for it to exit and removes its data directory. */
  async stop() {
    if (this.process.exitCode === null && this.process.signalCode === null) {
      await new Promise((resolve) => {
        this.process.removeAllListeners("exit");
        this.process.on("exit", resolve);
        this.process.kill("SIGTERM");
      });
    }
    rmSync(this.dataDir, { recursive: true, force: true });
  }

  /**
   * One HTTPS request from Node, trusting only the dev CA and verifying the host name; *.localhost is sent to the
   * loopback address (glibc does not resolve it). Redirects are not followed. Answers { status, headers, body }.
   */
  request(url, { method = "GET", headers = {}, body } = {}) {
    const lookup = (host, options, callback) =>
      systemLookup(host === "localhost" || host.endsWith(".localhost") ? "127.0.0.1" : host, options, callback);
    return new Promise((resolve, reject) => {
      const req = httpsRequest(url, { method, headers, ca: this.ca, lookup, agent: false }, (response) => {
        const chunks = [];
        response.on("data", (chunk) => chunks.push(chunk));
        response.on("end", () =>
          resolve({ status: response.statusCode, headers: response.headers, body: Buffer.concat(chunks).toString() }),
        );
      });
      req.on("error", reject);
      if (body !== undefined) req.write(body);
      req.end();
    });
  }

  /** dev-app's access token for `resource` (client credentials, as the SDKs get one). */
  async appToken(resource) {
    const { AZURE_AUTHORITY_HOST, AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET } = this.env;
    const response = await this.request(`${AZURE_AUTHORITY_HOST}/${AZURE_TENANT_ID}/oauth2/v2.0/token`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({
        grant_type: "client_credentials",
        client_id: AZURE_CLIENT_ID,
        client_secret: AZURE_CLIENT_SECRET,
        scope: `${resource}/.default`,
      }).toString(),
    });
    if (response.status !== 200) throw new Error(`token for ${resource}: ${response.status} ${response.body}`);
    return JSON.parse(response.body).access_token;
  }

  /** Creates a user in the dev tenant through Microsoft Graph, as dev-app (a Global Administrator). */
  async createUser(userPrincipalName, displayName, password) {
    const graph = `https://graph.localhost:${this.port}`;
    const token = await this.appToken(graph);
    const response = await this.request(`${graph}/v1.0/users`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify({
        accountEnabled: true,
        displayName,
        userPrincipalName,
        mailNickname: userPrincipalName.split("@")[0],
        passwordProfile: { password, forceChangePasswordNextSignIn: false },
      }),
    });
    if (response.status !== 201) throw new Error(`creating ${userPrincipalName}: ${response.status} ${response.body}`);
    return JSON.parse(response.body);
  }

  /** Writes `count` secrets `bulk-0000`… to vault dev as dev-app, a few requests at a time. */
  async seedSecrets(count) {
    const vault = this.env.VAULT_URL;
    const token = await this.appToken(`https://vault.localhost:${this.port}`);
    const names = Array.from({ length: count }, (_, i) => `bulk-${String(i).padStart(4, "0")}`);
    for (let start = 0; start < names.length; start += 16) {
      const batch = names.slice(start, start + 16).map(async (name) => {
        const response = await this.request(`${vault}/secrets/${name}?api-version=7.5`, {
          method: "PUT",
          headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
          body: JSON.stringify({ value: `value of ${name}` }),
        });
        if (response.status !== 200) throw new Error(`seeding ${name}: ${response.status} ${response.body}`);
      });
      await Promise.all(batch);
    }
  }

  /** The vault's own answer to GET /secrets/{name}, as dev-app sees it: 200 or 404. */
  async secretStatus(name) {
    const vault = this.env.VAULT_URL;
    const token = await this.appToken(`https://vault.localhost:${this.port}`);
    const response = await this.request(`${vault}/secrets/${name}?api-version=7.5`, {
      headers: { authorization: `Bearer ${token}` },
    });
    return response.status;
  }
}

/**
 * Debian's Chromium, headless, trusting the dev CA through an NSS database in a home directory of its own: the
 * browser verifies every certificate as it would for any site (ignoreHTTPSErrors stays false), so the test also
 * proves the portal's TLS.
 */
export async function launchChromium(caFile) {
  const home = mkdtempSync(join(tmpdir(), "strongroom-chromium-"));
  const nssdb = join(home, ".pki", "nssdb");
  mkdirSync(nssdb, { recursive: true });
  for (const args of [
    ["-d", `sql:${nssdb}`, "-N", "--empty-password"],
    ["-d", `sql:${nssdb}`, "-A", "-t", "C,,", "-n", "strongroom-dev", "-i", caFile],
  ]) {
    const certutil = spawnSync("certutil", args, { encoding: "utf8" });
    if (certutil.status !== 0) {
      const why = certutil.error?.message ?? certutil.stderr;
      throw new Error(`certutil ${args.join(" ")}: ${why} (scripts/browser-env installs it)`);
    }
  }
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    env: { ...process.env, HOME: home },
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
  browser.on("disconnected", () => rmSync(home, { recursive: true, force: true }));
  return browser;
}

/**
 * Screenshots of every page the test visits, numbered in order: into $STRONGROOM_ARTIFACTS/portal when set, else
 * tests/browser/screenshots (gitignored). The vault's secrets page also goes to docs/images/portal-secrets.png
 * (the README's picture) when STRONGROOM_UPDATE_README_IMAGE=1.
 */
export class Screenshots {
  constructor() {
    const artifacts = process.env.STRONGROOM_ARTIFACTS;
    this.dir = artifacts ? join(artifacts, "portal") : join(here, "screenshots");
    mkdirSync(this.dir, { recursive: true });
    for (const file of readdirSync(this.dir)) {
      if (/^\d\d-.*\.png$/.test(file)) rmSync(join(this.dir, file));
    }
    this.count = 0;
  }

  async take(page, what) {
    this.count += 1;
    const file = join(this.dir, `${String(this.count).padStart(2, "0")}-${what}.png`);
    await page.screenshot({ path: file, fullPage: true });
    return file;
  }

  async takeReadmeImage(page, what) {
    const file = await this.take(page, what);
    if (process.env.STRONGROOM_UPDATE_README_IMAGE === "1") {
      const image = join(repository, "docs", "images", "portal-secrets.png");
      mkdirSync(dirname(image), { recursive: true });
      copyFileSync(file, image);
      console.log(`   README image updated: ${image}`);
    }
  }
}
