// The official JavaScript keys SDK (@azure/keyvault-keys), unmodified, against `strongroom dev`: the key
// lifecycle through KeyClient, and CryptographyClient's operations cross-checked with Node's own crypto.
import assert from "node:assert/strict";
import { constants, createHash, createPublicKey, publicEncrypt, verify } from "node:crypto";
import { test } from "node:test";

import { ClientSecretCredential } from "@azure/identity";
import { CryptographyClient, KeyClient } from "@azure/keyvault-keys";

const env = process.env;
const poll = { intervalInMs: 100 };
const credential = new ClientSecretCredential(env.AZURE_TENANT_ID, env.AZURE_CLIENT_ID, env.AZURE_CLIENT_SECRET, {
  disableInstanceDiscovery: true,
});
const keys = new KeyClient(env.VAULT_URL, credential);
// AES keys are Managed HSM's: strongroom dev's HSM holds them, a vault refuses them as Key Vault does.
const hsm = new KeyClient(env.AZURE_MANAGEDHSM_URI, credential);

const b64url = (bytes) => Buffer.from(bytes).toString("base64url");

async function collect(iterable) {
  const items = [];
  for await (const item of iterable) items.push(item);
  return items;
}

test("create, read, list, rotate and delete keys", async () => {
  const rsa = await keys.createRsaKey("js-rsa", { keySize: 2048, tags: { team: "js" } });
  assert.equal(rsa.keyType, "RSA");
  assert.equal(rsa.key.n.length, 256);
  assert.equal(rsa.key.d, undefined, "no private member leaves the vault");
  const ec = await keys.createEcKey("js-ec", { curve: "P-384", hsm: true });
  assert.equal(ec.keyType, "EC-HSM");
  assert.equal(ec.key.crv, "P-384");
  const aes = await hsm.createOctKey("js-aes", { keySize: 256 });
  assert.equal(aes.keyType, "oct-HSM", "every key of an HSM is a hardware key");
  assert.equal(aes.key.k, undefined, "nothing of an AES key leaves the HSM");
  assert.equal((await hsm.getKey("js-aes")).id, aes.id);
  for (const options of [{ keySize: 256 }, { keySize: 256, hsm: true }]) {
    await assert.rejects(
      keys.createOctKey("js-aes", options),
      (e) =>
        e.statusCode === 400 &&
        e.code === "BadParameter" &&
        /Invalid kty value: oct/.test(e.message) &&
        JSON.stringify(e.details).includes("KeyTypeNotSupported"),
    );
  }

  assert.equal((await keys.getKey("js-rsa")).id, rsa.id);
  const names = (await collect(keys.listPropertiesOfKeys())).map((p) => p.name);
  assert.ok(["js-rsa", "js-ec"].every((n) => names.includes(n)));
  assert.ok(!names.includes("js-aes"), "the refused AES key was not written to the vault");

  const policy = await keys.updateKeyRotationPolicy("js-rsa", {
    lifetimeActions: [{ action: "Rotate", timeAfterCreate: "P30D" }],
    expiresIn: "P90D",
  });
  assert.equal(policy.expiresIn, "P90D");
  assert.equal((await keys.getKeyRotationPolicy("js-rsa")).lifetimeActions[0].timeAfterCreate, "P30D");
  const rotated = await keys.rotateKey("js-rsa");
  assert.notEqual(rotated.properties.version, rsa.properties.version);
  const lifetime = rotated.properties.expiresOn - rotated.properties.createdOn;
  assert.equal(lifetime, 90 * 86_400_000, "the rotated version lives for the policy's expiryTime");
  assert.equal((await collect(keys.listPropertiesOfKeyVersions("js-rsa"))).length, 2);

  const random = await keys.getRandomBytes(16);
  assert.equal(random.length, 16);

  const poller = await keys.beginDeleteKey("js-ec", poll);
  await poller.pollUntilDone();
  await keys.purgeDeletedKey("js-ec");
  await assert.rejects(keys.getKey("js-ec"), (e) => e.statusCode === 404 && e.code === "KeyNotFound");
});

test("cryptography on the server checks out with Node's crypto", async () => {
  const ecKey = await keys.createEcKey("js-sign", { curve: "P-256" });
  const ec = new CryptographyClient(ecKey, credential);
  const data = Buffer.from("signed in the vault");
  const digest = createHash("sha256").update(data).digest();
  const { result: signature } = await ec.sign("ES256", digest);
  assert.equal(signature.length, 64, "raw r‖s");
  const ecPublic = createPublicKey({
    key: { kty: "EC", crv: "P-256", x: b64url(ecKey.key.x), y: b64url(ecKey.key.y) },
    format: "jwk",
  });
  assert.ok(verify("sha256", data, { key: ecPublic, dsaEncoding: "ieee-p1363" }, signature));
  assert.ok((await ec.verify("ES256", digest, signature)).result);

  const rsaKey = await keys.createRsaKey("js-decrypt", { keySize: 2048 });
  const rsa = new CryptographyClient(rsaKey, credential);
  const rsaPublic = createPublicKey({
    key: { kty: "RSA", n: b64url(rsaKey.key.n), e: b64url(rsaKey.key.e) },
    format: "jwk",
  });
  const ciphertext = publicEncrypt(
    { key: rsaPublic, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: "sha256" },
    Buffer.from("for the vault's eyes"),
  );
  const decrypted = await rsa.decrypt({ algorithm: "RSA-OAEP-256", ciphertext });
  assert.equal(Buffer.from(decrypted.result).toString(), "for the vault's eyes");
  const wrapped = await rsa.wrapKey("RSA-OAEP", Buffer.alloc(32, 7));
  assert.deepEqual(Buffer.from((await rsa.unwrapKey("RSA-OAEP", wrapped.result)).result), Buffer.alloc(32, 7));

  const aes = new CryptographyClient((await hsm.createOctKey("js-gcm", { keySize: 256 })).id, credential);
  const sealed = await aes.encrypt({
    algorithm: "A256GCM",
    plaintext: Buffer.from("gcm"),
    additionalAuthenticatedData: Buffer.from("aad"),
  });
  assert.equal(sealed.iv.length, 12);
  const opened = await aes.decrypt({
    algorithm: "A256GCM",
    ciphertext: sealed.result,
    iv: sealed.iv,
    authenticationTag: sealed.authenticationTag,
    additionalAuthenticatedData: Buffer.from("aad"),
  });
  assert.equal(Buffer.from(opened.result).toString(), "gcm");

  await assert.rejects(ec.sign("ES384", digest), (e) => e.statusCode === 400 && e.code === "BadParameter");
});

test("an HSM key's attestation, asked without a version as Microsoft's hsmOperations.js sample does", async () => {
  const key = await keys.createRsaKey("js-attested", { keySize: 2048, hsm: true });
  // getKeyAttestation(name) sends GET /keys/{name}/attestation: no version segment at all.
  const attested = await keys.getKeyAttestation("js-attested");
  assert.equal(attested.id, key.id);
  assert.equal(attested.keyType, "RSA-HSM");
  const named = await keys.getKeyAttestation("js-attested", { version: key.properties.version });
  assert.equal(named.id, key.id);
});
