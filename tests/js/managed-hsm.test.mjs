// Managed HSM from JavaScript against `strongroom dev`: the official management SDK (@azure/arm-keyvault) makes,
// reads, lists, deletes and purges an HSM, which serves nothing but its security domain until it is activated, as
// in Azure. (@azure/keyvault-admin, the data plane's administration SDK, is not
// served by the npm registry this project's CI reaches; its Python counterpart is tested in tests/python.)
import assert from "node:assert/strict";
import { test } from "node:test";

import { KeyVaultManagementClient } from "@azure/arm-keyvault";
import { ClientSecretCredential } from "@azure/identity";
import { KeyClient } from "@azure/keyvault-keys";

const env = process.env;
const credential = new ClientSecretCredential(env.AZURE_TENANT_ID, env.AZURE_CLIENT_ID, env.AZURE_CLIENT_SECRET, {
  disableInstanceDiscovery: true,
});
const management = { endpoint: env.AZURE_AUTHORITY_HOST, credentials: { scopes: ["https://management.azure.com/.default"] } };

/** The dev instance's subscription, as `az account show` finds it. */
async function subscriptionId() {
  const { token } = await credential.getToken(management.credentials.scopes);
  const response = await fetch(`${env.AZURE_AUTHORITY_HOST}/subscriptions?api-version=2022-12-01`, {
    headers: { authorization: `Bearer ${token}` },
  });
  assert.equal(response.status, 200);
  const { value } = await response.json();
  assert.equal(value.length, 1);
  return value[0].subscriptionId;
}

/** The object id of the dev application, from its own token. */
async function objectId() {
  const { token } = await credential.getToken(management.credentials.scopes);
  return JSON.parse(Buffer.from(token.split(".")[1], "base64url").toString()).oid;
}

async function collect(iterable) {
  const items = [];
  for await (const item of iterable) items.push(item);
  return items;
}

test("a Managed HSM is made, waits for its security domain, and is deleted and purged", async () => {
  const client = new KeyVaultManagementClient(credential, await subscriptionId(), management);
  const hsms = client.managedHsms;
  const admin = await objectId();
  const made = await hsms.createOrUpdate("strongroom", "js-hsm", {
    location: "local",
    sku: { family: "B", name: "Standard_B1" },
    properties: { tenantId: env.AZURE_TENANT_ID, initialAdminObjectIds: [admin], softDeleteRetentionInDays: 7 },
  });
  assert.equal(made.properties.provisioningState, "Succeeded");
  assert.match(made.properties.hsmUri, /^https:\/\/js-hsm\.managedhsm\.localhost:\d+\/$/);
  assert.deepEqual(made.properties.initialAdminObjectIds, [admin]);
  assert.equal(made.properties.securityDomainProperties.activationStatus, "NotActivated");
  assert.equal((await hsms.get("strongroom", "js-hsm")).id, made.id);
  assert.ok((await collect(hsms.listByResourceGroup("strongroom"))).some((h) => h.name === "js-hsm"));
  assert.ok((await collect(hsms.listBySubscription())).some((h) => h.name === "devhsm"));

  // The administrator uses no key: the keys SDK is refused by the HSM's local RBAC.
  const keys = new KeyClient(made.properties.hsmUri, credential);
  await assert.rejects(keys.createOctKey("js-early", { keySize: 256 }), (error) => {
    assert.equal(error.statusCode, 403);
    assert.match(error.message, /Not authorized to access Microsoft.KeyVault\/managedHsm\/keys\/create/);
    return true;
  });
  // And what the administrator may do, manage role assignments, waits for the security domain's download.
  const resource = made.properties.hsmUri.replace("js-hsm.", "").replace(/\/$/, "");
  const { token } = await credential.getToken(`${resource}/.default`);
  const assignments = await fetch(
    `${made.properties.hsmUri}providers/Microsoft.Authorization/roleAssignments?api-version=7.5`,
    { headers: { authorization: `Bearer ${token}` } },
  );
  assert.equal(assignments.status, 403);
  assert.equal((await assignments.json()).error.innererror.code, "HsmNotActivated");

  await hsms.delete("strongroom", "js-hsm");
  assert.equal((await hsms.getDeleted("js-hsm", "local")).properties.mhsmId, made.id);
  assert.ok((await collect(hsms.listDeleted())).some((h) => h.name === "js-hsm"));
  await hsms.purgeDeleted("js-hsm", "local");
  await assert.rejects(hsms.getDeleted("js-hsm", "local"), (error) => error.statusCode === 404);
  assert.equal((await hsms.checkMhsmNameAvailability({ name: "js-hsm" })).nameAvailable, true);
});
