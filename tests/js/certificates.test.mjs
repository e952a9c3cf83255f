// The official JavaScript SDK (@azure/keyvault-certificates), unmodified, against `strongroom dev`: the flows of
// its own samples mergeCertificate.js (a CSR signed by a CA of the test's own, merged as the sample sends it),
// operations.js (an operation read, cancelled and deleted while the issuer is at work) and issuers.js (an issuer of
// a provider only Key Vault reaches). `strongroom dev` gives issuers the seconds Key Vault's take, as users see.
import assert from "node:assert/strict";
import { X509Certificate, createPublicKey, generateKeyPairSync, randomBytes, sign } from "node:crypto";
import { test } from "node:test";

import { ClientSecretCredential } from "@azure/identity";
import { CertificateClient } from "@azure/keyvault-certificates";

const env = process.env;
const poll = { intervalInMs: 100 };

function client() {
  const credential = new ClientSecretCredential(env.AZURE_TENANT_ID, env.AZURE_CLIENT_ID, env.AZURE_CLIENT_SECRET, {
    disableInstanceDiscovery: true,
  });
  return new CertificateClient(env.VAULT_URL, credential);
}

// A throwaway CA, as the sample's `openssl x509 -req` is one: just enough DER to read a CSR and sign a certificate
// with node's own crypto (which makes keys and signatures, not certificates).
function tlv(tag, ...parts) {
  const body = Buffer.concat(parts);
  let length = Buffer.from([body.length]);
  if (body.length >= 0x80) {
    const bytes = [];
    for (let n = body.length; n > 0; n >>= 8) bytes.unshift(n & 0xff);
    length = Buffer.from([0x80 | bytes.length, ...bytes]);
  }
  return Buffer.concat([Buffer.from([tag]), length, body]);
}

function read(der, start) {
  let length = der[start + 1];
  let content = start + 2;
  if (length & 0x80) {
    const count = length & 0x7f;
    length = 0;
    for (let i = 0; i < count; i++) length = length * 256 + der[content++];
  }
  return { start, content, end: content + length };
}

function children(der, parent) {
  const found = [];
  for (let at = parent.content; at < parent.end; at = found.at(-1).end) found.push(read(der, at));
  return found;
}

const SEQUENCE = 0x30;
const ECDSA_WITH_SHA256 = tlv(SEQUENCE, Buffer.from("06082a8648ce3d040302", "hex"));
const commonName = (cn) =>
  tlv(SEQUENCE, tlv(0x31, tlv(SEQUENCE, Buffer.from("0603550403", "hex"), tlv(0x0c, Buffer.from(cn)))));
const utcTime = (date) => tlv(0x17, Buffer.from(date.toISOString().replace(/[-:T]/g, "").slice(2, 14) + "Z"));

function makeCa() {
  const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const name = commonName("Strongroom JS test CA");
  const ca = { name, privateKey };
  ca.der = issue(ca, name, publicKey.export({ type: "spki", format: "der" }));
  return ca;
}

// A version 1 certificate for `subject` (DER of a Name) and `spki` (DER), signed by `ca`.
function issue(ca, subject, spki) {
  const now = Date.now();
  const validity = tlv(SEQUENCE, utcTime(new Date(now - 60_000)), utcTime(new Date(now + 90 * 86_400_000)));
  const serial = tlv(0x02, Buffer.concat([Buffer.from([0x01]), randomBytes(15)]));
  const tbs = tlv(SEQUENCE, serial, ECDSA_WITH_SHA256, ca.name, validity, subject, spki);
  const signature = sign("sha256", tbs, ca.privateKey);
  return tlv(SEQUENCE, tbs, ECDSA_WITH_SHA256, tlv(0x03, Buffer.from([0]), signature));
}

// The CA's certificate for the CSR's subject and key.
function signRequest(ca, csr) {
  const der = Buffer.from(csr);
  const [info] = children(der, read(der, 0));
  const [, subject, spki] = children(der, info);
  return issue(ca, der.subarray(subject.start, subject.end), der.subarray(spki.start, spki.end));
}

const pem = (der) =>
  `-----BEGIN CERTIFICATE-----\n${der.toString("base64").match(/.{1,64}/g).join("\n")}\n-----END CERTIFICATE-----\n`;

test("mergeCertificate.js: a CSR signed elsewhere is merged as the sample sends it", async () => {
  const certificates = client();
  const ca = makeCa();
  const name = `js-merge-${Date.now()}`;
  for (const asSent of [
    // The sample's way: the characters of the PEM file `openssl x509 -req` wrote, less its first line (its
    // `split("\n").slice(1, -1)` drops the empty string after the last newline, and keeps the END line).
    (leaf) => [Buffer.from(pem(leaf).split("\n").slice(1, -1).join(""))],
    // The whole PEM text, with the CA after the leaf.
    (leaf) => [Buffer.from(pem(leaf) + pem(ca.der))],
    // DER, as the other SDKs send it.
    (leaf) => [leaf, ca.der],
  ]) {
    await certificates.beginCreateCertificate(name, {
      issuerName: "Unknown",
      certificateTransparency: false,
      subject: "cn=MyCert",
    });
    // The SDK reads the pending certificate before its operation.
    const pending = await certificates.getCertificate(name);
    assert.equal(pending.properties.enabled, false);
    assert.equal(pending.cer, undefined);
    const operationPoller = await certificates.getCertificateOperation(name);
    const { csr, status } = operationPoller.getOperationState().certificateOperation;
    assert.equal(status, "inProgress");

    const leaf = signRequest(ca, csr);
    const merged = await certificates.mergeCertificate(name, asSent(leaf));
    assert.deepEqual(Buffer.from(merged.cer), leaf);
    assert.equal(merged.properties.enabled, true);
    assert.equal(merged.properties.version, pending.properties.version, "the pending version became it");
    assert.ok(new X509Certificate(merged.cer).verify(createPublicKey(ca.privateKey)));
    const done = await certificates.getCertificateOperation(name);
    assert.equal(done.getOperationState().certificateOperation.status, "completed");
  }
});

test("operations.js: an operation is read, cancelled and deleted while the issuer is at work", async () => {
  const certificates = client();
  const name = `js-operation-${Date.now()}`;
  const createPoller = await certificates.beginCreateCertificate(name, { issuerName: "Self", subject: "cn=MyCert" }, poll);
  assert.ok(!createPoller.isDone());
  const operationPoller = await certificates.getCertificateOperation(name, poll);
  const pending = operationPoller.getResult();
  assert.equal(pending.properties.enabled, false);
  assert.equal(operationPoller.getOperationState().certificateOperation.status, "inProgress");
  await assert.rejects(
    certificates.beginCreateCertificate(name, { issuerName: "Self", subject: "cn=MyCert" }),
    (e) => e.statusCode === 409 && e.code === "Conflict",
  );

  await operationPoller.cancelOperation();
  const cancelled = operationPoller.getOperationState().certificateOperation;
  assert.equal(cancelled.cancellationRequested, true);
  assert.equal(cancelled.status, "cancelled");
  // A poller cancels once; a new one asks again, of an operation that has ended.
  await assert.rejects(
    (await certificates.getCertificateOperation(name)).cancelOperation(),
    (e) => e.statusCode === 403 && /Pending status must be in progress to allow update/.test(e.message),
  );

  const deleted = await certificates.deleteCertificateOperation(name);
  assert.equal(deleted.status, "cancelled");
  await assert.rejects(
    certificates.getCertificateOperation(name),
    (e) => e.statusCode === 404 && e.code === "PendingCertificateNotFound",
  );
  const withoutOperation = await certificates.getCertificate(name);
  assert.equal(withoutOperation.properties.enabled, false);

  // An issuer Unknown request is read, and a new one replaces it; its operation is deleted.
  await certificates.beginCreateCertificate(name, { issuerName: "Unknown", subject: "cn=MyCert" });
  const unknown = await certificates.getCertificateOperation(name);
  assert.equal(unknown.getOperationState().certificateOperation.issuerName, "Unknown");
  await certificates.beginCreateCertificate(name, { issuerName: "Unknown", subject: "cn=MyCert" });
  await certificates.deleteCertificateOperation(name);
  await assert.rejects(certificates.getCertificateOperation(name), (e) => e.statusCode === 404);

  // Issued once the issuer's seconds have passed: the operation then cannot be cancelled.
  const issuedPoller = await certificates.beginCreateCertificate(name, { issuerName: "Self", subject: "cn=MyCert" }, poll);
  const issued = await issuedPoller.pollUntilDone();
  assert.ok(issued.cer.length > 0);
  assert.equal(issued.properties.enabled, true);
  const completed = await certificates.getCertificateOperation(name);
  await assert.rejects(completed.cancelOperation(), (e) => e.statusCode === 403);
});

test("issuers.js: an issuer of a provider only Key Vault reaches fails in the operation", async () => {
  const certificates = client();
  const issuerName = `issuer${Date.now()}`;
  const name = `js-issuer-${Date.now()}`;
  await certificates.createIssuer(issuerName, "Test", {
    accountId: "keyvaultuser",
    administratorContacts: [{ firstName: "John", lastName: "Doe", email: "admin@microsoft2.com", phone: "4255555555" }],
  });
  const createPoller = await certificates.beginCreateCertificate(name, { issuerName, subject: "cn=MyCert" }, poll);
  assert.ok(!createPoller.isDone(), "in progress while the issuer is at work");
  // The SDK raises the operation's `error` once its status is `failed`, and the certificate stays disabled.
  await assert.rejects(createPoller.pollUntilDone(), /provider 'Test'/);
  await assert.rejects(certificates.getCertificateOperation(name), /provider 'Test'/);
  assert.equal((await certificates.getCertificate(name)).properties.enabled, false);
  assert.equal((await certificates.getIssuer(issuerName)).provider, "Test");
  await certificates.deleteIssuer(issuerName);
});
