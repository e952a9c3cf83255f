// Runs the JavaScript conformance suite the way a user would: start `strongroom dev`, take the environment
// `source dev.env` gives (NODE_EXTRA_CA_CERTS is read only when Node starts, hence a child process), run the
// tests, stop the server. Exits with the tests' status.
import { spawn } from "node:child_process";
import { createWriteStream, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const binary = process.env.STRONGROOM_BIN ?? "strongroom";
const dataDir = mkdtempSync(join(tmpdir(), "strongroom-js-"));

function startServer() {
  const server = spawn(binary, ["dev", "--listen", "127.0.0.1:0", "--data-dir", dataDir], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  server.stderr.pipe(createWriteStream(join(dataDir, "server.log")));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("strongroom did not start within 60 s")), 60_000);
    server.on("exit", (code) => reject(new Error(`strongroom exited with ${code}; see ${dataDir}/server.log`)));
    createInterface({ input: server.stdout }).on("line", (line) => {
      if (line.startsWith("strongroom listening on https://")) {
        clearTimeout(timer);
        resolve(server);
      }
    });
  });
}

function devEnv() {
  const env = {};
  for (const line of readFileSync(join(dataDir, "dev.env"), "utf8").split("\n")) {
    const match = /^export ([A-Z_]+)='(.*)'$/.exec(line);
    if (match) env[match[1]] = match[2];
  }
  return env;
}

function stop(server) {
  return new Promise((resolve) => {
    if (server.exitCode !== null) return resolve();
    server.removeAllListeners("exit");
    server.on("exit", resolve);
    server.kill("SIGTERM");
  });
}

let server;
let status = 1;
try {
  server = await startServer();
  const tests = spawn(
    process.execPath,
    [
      "--require",
      join(here, "resolve-localhost.cjs"),
      "--test",
      join(here, "secrets.test.mjs"),
      join(here, "keys.test.mjs"),
      join(here, "certificates.test.mjs"),
      join(here, "managed-hsm.test.mjs"),
    ],
    { cwd: here, env: { ...process.env, ...devEnv() }, stdio: "inherit" },
  );
  status = await new Promise((resolve) => tests.on("exit", (code) => resolve(code ?? 1)));
} catch (error) {
  console.error(error.message);
} finally {
  if (server) await stop(server);
  rmSync(dataDir, { recursive: true, force: true });
}
process.exit(status);
