// The official JavaScript SDKs (@azure/identity + @azure/keyvault-secrets), unmodified, against `strongroom dev`.
// The environment is what `source dev.env` gives a user: AZURE_* variables, VAULT_URL, NODE_EXTRA_CA_CERTS.
import assert from "node:assert/strict";
import { test } from "node:test";

import { ClientSecretCredential } from "@azure/identity";
import { SecretClient } from "@azure/keyvault-secrets";

const env = process.env;
const poll = { intervalInMs: 100 };

function client(secret = env.AZURE_CLIENT_SECRET) {
  // The authority comes from AZURE_AUTHORITY_HOST, as it does for users.
  const credential = new ClientSecretCredential(env.AZURE_TENANT_ID, env.AZURE_CLIENT_ID, secret, {
    disableInstanceDiscovery: true,
  });
  return new SecretClient(env.VAULT_URL, credential);
}

async function collect(iterable) {
  const items = [];
  for await (const item of iterable) items.push(item);
  return items;
}

test("set, get, update and list secrets", async () => {
  const secrets = client();
  const first = await secrets.setSecret("js-conformance", "value-1", { contentType: "text/plain", tags: { env: "js" } });
  const second = await secrets.setSecret("js-conformance", "value-2");
  assert.equal(first.value, "value-1");
  assert.deepEqual(first.properties.tags, { env: "js" });
  assert.notEqual(first.properties.version, second.properties.version);

  assert.equal((await secrets.getSecret("js-conformance")).value, "value-2");
  assert.equal((await secrets.getSecret("js-conformance", { version: first.properties.version })).value, "value-1");

  const updated = await secrets.updateSecretProperties("js-conformance", first.properties.version, {
    contentType: "application/json",
    tags: { rotated: "yes" },
  });
  assert.equal(updated.contentType, "application/json");
  assert.deepEqual(updated.tags, { rotated: "yes" });

  for (let i = 0; i < 5; i++) await secrets.setSecret(`js-paged-${i}`, `v${i}`);
  const pages = await collect(secrets.listPropertiesOfSecrets().byPage({ maxPageSize: 2 }));
  assert.ok(pages.length >= 3, `expected several pages, got ${pages.length}`);
  assert.ok(pages.every((page) => page.length <= 2));
  const names = pages.flat().map((p) => p.name);
  assert.ok(names.includes("js-paged-4") && names.includes("js-conformance"));

  const versions = await collect(secrets.listPropertiesOfSecretVersions("js-conformance"));
  assert.deepEqual(
    versions.map((v) => v.version).sort(),
    [first.properties.version, second.properties.version].sort(),
  );
});

test("delete, recover, purge, backup and restore", async () => {
  const secrets = client();
  await secrets.setSecret("js-lifecycle", "keep-me");
  const backup = await secrets.backupSecret("js-lifecycle");
  assert.ok(backup instanceof Uint8Array && backup.length > 0);

  const deletion = await secrets.beginDeleteSecret("js-lifecycle", poll);
  const deleted = await deletion.pollUntilDone();
  assert.equal(deleted.name, "js-lifecycle");
  assert.ok(deleted.recoveryId.endsWith("/deletedsecrets/js-lifecycle"));
  assert.ok(deleted.scheduledPurgeDate > deleted.deletedOn);
  assert.equal((await secrets.getDeletedSecret("js-lifecycle")).name, "js-lifecycle");
  assert.ok((await collect(secrets.listDeletedSecrets())).some((s) => s.name === "js-lifecycle"));
  await assert.rejects(secrets.setSecret("js-lifecycle", "again"), (e) => e.statusCode === 409);

  const recovery = await secrets.beginRecoverDeletedSecret("js-lifecycle", poll);
  await recovery.pollUntilDone();
  assert.equal((await secrets.getSecret("js-lifecycle")).value, "keep-me");

  await (await secrets.beginDeleteSecret("js-lifecycle", poll)).pollUntilDone();
  await secrets.purgeDeletedSecret("js-lifecycle");
  await assert.rejects(secrets.getDeletedSecret("js-lifecycle"), (e) => e.statusCode === 404);

  const restored = await secrets.restoreSecretBackup(backup);
  assert.equal(restored.name, "js-lifecycle");
  assert.equal((await secrets.getSecret("js-lifecycle")).value, "keep-me");
  await assert.rejects(secrets.restoreSecretBackup(backup), (e) => e.statusCode === 409);
});

test("a wrong client secret is refused with its AADSTS code", async () => {
  await assert.rejects(client("not-the-secret").getSecret("js-conformance"), (e) => /AADSTS7000215/.test(e.message));
});
