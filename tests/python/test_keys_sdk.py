"""The official azure-keyvault-keys SDK, unmodified: KeyClient for the key lifecycle and CryptographyClient for
the operations, each result checked with the `cryptography` package."""

import hashlib
import os

import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.keyvault.keys import KeyClient
from azure.keyvault.keys.crypto import (
    CryptographyClient,
    EncryptionAlgorithm,
    KeyWrapAlgorithm,
    SignatureAlgorithm,
)
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed, encode_dss_signature

from test_secrets_sdk import credential_for


def key_client(server):
    return KeyClient(f"https://billing.vault.localhost:{server.port}", credential_for(server, "admin"), connection_verify=server.ca)


def crypto_client(server, key):
    return CryptographyClient(key, credential_for(server, "admin"), connection_verify=server.ca)


def number(b):
    return int.from_bytes(b, "big")


def test_keys_are_created_read_listed_updated_deleted_and_recovered(configured_server):
    client = key_client(configured_server)
    rsa_key = client.create_rsa_key("sdk-rsa", size=2048, tags={"team": "payments"})
    assert rsa_key.key_type == "RSA" and len(rsa_key.key.n) == 256 and rsa_key.key.e == b"\x01\x00\x01"
    assert rsa_key.properties.tags == {"team": "payments"} and rsa_key.properties.enabled
    assert not hasattr(rsa_key.key, "d") or rsa_key.key.d is None, "no private member leaves the vault"
    ec_key = client.create_ec_key("sdk-ec", curve="P-384", hardware_protected=True)
    assert ec_key.key_type == "EC-HSM" and ec_key.key.crv == "P-384" and len(ec_key.key.x) == 48

    assert client.get_key("sdk-rsa").id == rsa_key.id
    newer = client.create_rsa_key("sdk-rsa", size=3072)
    assert len(client.get_key("sdk-rsa").key.n) == 384
    assert client.get_key("sdk-rsa", rsa_key.properties.version).id == rsa_key.id
    versions = {p.version for p in client.list_properties_of_key_versions("sdk-rsa")}
    assert versions == {rsa_key.properties.version, newer.properties.version}
    assert {"sdk-rsa", "sdk-ec"} <= {p.name for p in client.list_properties_of_keys()}
    rotated = client.rotate_key("sdk-rsa")
    assert rotated.properties.version not in versions and len(rotated.key.n) == 384 and rotated.key.n != newer.key.n

    updated = client.update_key_properties("sdk-ec", enabled=False, key_operations=["verify"], tags={"a": "b"})
    assert not updated.properties.enabled and updated.key_operations == ["verify"] and updated.properties.tags == {"a": "b"}

    deleted = client.begin_delete_key("sdk-ec").result()
    assert deleted.recovery_id.endswith("/deletedkeys/sdk-ec") and deleted.scheduled_purge_date
    with pytest.raises(ResourceNotFoundError) as missing:
        client.get_key("sdk-ec")
    assert missing.value.error.code == "KeyNotFound"
    assert "sdk-ec" in [k.name for k in client.list_deleted_keys()]
    assert client.get_deleted_key("sdk-ec").name == "sdk-ec"
    assert client.begin_recover_deleted_key("sdk-ec").result().name == "sdk-ec"
    client.begin_delete_key("sdk-ec").result()
    client.purge_deleted_key("sdk-ec")
    with pytest.raises(ResourceNotFoundError):
        client.get_deleted_key("sdk-ec")


def test_rsa_operations_check_out_with_the_cryptography_package(configured_server):
    key = key_client(configured_server).create_rsa_key("sdk-rsa-ops", size=2048)
    crypto = crypto_client(configured_server, key)
    public = rsa.RSAPublicNumbers(number(key.key.e), number(key.key.n)).public_key()

    digest = hashlib.sha256(b"message").digest()
    for algorithm, pad in [
        (SignatureAlgorithm.rs256, padding.PKCS1v15()),
        (SignatureAlgorithm.ps256, padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)),
    ]:
        signed = crypto.sign(algorithm, digest)
        public.verify(signed.signature, digest, pad, Prehashed(hashes.SHA256()))
        assert crypto.verify(algorithm, digest, signed.signature).is_valid

    for algorithm, pad in [
        (EncryptionAlgorithm.rsa_oaep, padding.OAEP(mgf=padding.MGF1(hashes.SHA1()), algorithm=hashes.SHA1(), label=None)),
        (EncryptionAlgorithm.rsa_oaep_256, padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)),
        (EncryptionAlgorithm.rsa1_5, padding.PKCS1v15()),
    ]:
        ciphertext = public.encrypt(b"plaintext", pad)
        assert crypto.decrypt(algorithm, ciphertext).plaintext == b"plaintext"
        assert crypto.decrypt(algorithm, crypto.encrypt(algorithm, b"again").ciphertext).plaintext == b"again"

    secret_key = os.urandom(32)
    wrapped = crypto.wrap_key(KeyWrapAlgorithm.rsa_oaep_256, secret_key)
    assert crypto.unwrap_key(KeyWrapAlgorithm.rsa_oaep_256, wrapped.encrypted_key).key == secret_key

    # Refusals, each a 400 and nothing changed: a digest of the wrong length, an algorithm of another key type.
    for call in (lambda: crypto.sign(SignatureAlgorithm.rs384, digest), lambda: crypto.sign(SignatureAlgorithm.es256, digest)):
        with pytest.raises(HttpResponseError) as refused:
            call()
        assert refused.value.status_code == 400


def test_ec_signatures_are_raw_and_verify_with_the_cryptography_package(configured_server):
    client = key_client(configured_server)
    for curve, algorithm, hash_algorithm in [
        ("P-256", SignatureAlgorithm.es256, hashes.SHA256()),
        ("P-521", SignatureAlgorithm.es512, hashes.SHA512()),
        ("P-256K", SignatureAlgorithm.es256_k, hashes.SHA256()),
    ]:
        key = client.create_ec_key(f"sdk-ec-{curve.lower().replace('-', '')}", curve=curve)
        crypto = crypto_client(configured_server, key)
        digest_of = hashes.Hash(hash_algorithm)
        digest_of.update(b"message")
        digest = digest_of.finalize()
        signature = crypto.sign(algorithm, digest).signature
        half = len(signature) // 2
        curve_class = {"P-256": ec.SECP256R1, "P-521": ec.SECP521R1, "P-256K": ec.SECP256K1}[curve]
        public = ec.EllipticCurvePublicNumbers(number(key.key.x), number(key.key.y), curve_class()).public_key()
        der = encode_dss_signature(number(signature[:half]), number(signature[half:]))
        public.verify(der, digest, ec.ECDSA(Prehashed(hash_algorithm)))
        assert crypto.verify(algorithm, digest, signature).is_valid

    disabled = client.create_ec_key("sdk-ec-disabled", curve="P-256")
    client.update_key_properties("sdk-ec-disabled", enabled=False)
    with pytest.raises(HttpResponseError) as refused:
        crypto_client(configured_server, disabled.id).sign(SignatureAlgorithm.es256, hashlib.sha256(b"m").digest())
    assert refused.value.status_code == 403
    only_verify = client.create_ec_key("sdk-ec-verify-only", curve="P-256", key_operations=["verify"])
    with pytest.raises(HttpResponseError) as refused:
        crypto_client(configured_server, only_verify.id).sign(SignatureAlgorithm.es256, hashlib.sha256(b"m").digest())
    assert refused.value.status_code == 400


def test_a_key_backup_restores_the_same_material_and_only_as_a_key(configured_server):
    client = key_client(configured_server)
    key = client.create_ec_key("sdk-backed-up", curve="P-256")
    blob = client.backup_key("sdk-backed-up")
    client.begin_delete_key("sdk-backed-up").result()
    client.purge_deleted_key("sdk-backed-up")
    restored = client.restore_key_backup(blob)
    assert restored.id == key.id and restored.key.x == key.key.x and restored.key.y == key.key.y
    digest = hashlib.sha256(b"after restore").digest()
    signature = crypto_client(configured_server, restored).sign(SignatureAlgorithm.es256, digest).signature
    assert crypto_client(configured_server, key).verify(SignatureAlgorithm.es256, digest, signature).is_valid

    from azure.keyvault.secrets import SecretClient

    secrets = SecretClient(f"https://billing.vault.localhost:{configured_server.port}", credential_for(configured_server, "admin"), connection_verify=configured_server.ca)
    with pytest.raises(HttpResponseError) as refused:
        secrets.restore_secret_backup(blob)
    assert refused.value.status_code == 400, "a key's backup is no secret"
    with pytest.raises(HttpResponseError) as taken:
        client.restore_key_backup(blob)
    assert taken.value.status_code == 409


def test_imported_keys_keep_their_material(configured_server):
    from azure.keyvault.keys import JsonWebKey

    def raw(value, length=None):
        return value.to_bytes(length or (value.bit_length() + 7) // 8, "big")

    client = key_client(configured_server)
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    numbers = private.private_numbers()
    jwk = JsonWebKey(
        kty="RSA", key_ops=["sign", "verify"], n=raw(numbers.public_numbers.n), e=raw(numbers.public_numbers.e),
        d=raw(numbers.d), p=raw(numbers.p), q=raw(numbers.q), dp=raw(numbers.dmp1), dq=raw(numbers.dmq1), qi=raw(numbers.iqmp),
    )
    imported = client.import_key("sdk-imported-rsa", jwk, hardware_protected=True)
    assert imported.key_type == "RSA-HSM" and imported.key.n == raw(numbers.public_numbers.n)
    assert imported.key_operations == ["sign", "verify"]
    digest = hashlib.sha256(b"imported").digest()
    signature = crypto_client(configured_server, imported).sign(SignatureAlgorithm.rs256, digest).signature
    private.public_key().verify(signature, digest, padding.PKCS1v15(), Prehashed(hashes.SHA256()))

    ec_private = ec.generate_private_key(ec.SECP256R1())
    ec_numbers = ec_private.private_numbers()
    ec_jwk = JsonWebKey(
        kty="EC", crv="P-256", d=raw(ec_numbers.private_value, 32),
        x=raw(ec_numbers.public_numbers.x, 32), y=raw(ec_numbers.public_numbers.y, 32),
    )
    imported_ec = client.import_key("sdk-imported-ec", ec_jwk)
    assert imported_ec.key.x == raw(ec_numbers.public_numbers.x, 32)
    # A private scalar that is not the point's is refused, nothing stored.
    bad = JsonWebKey(kty="EC", crv="P-256", d=b"\x07" * 32, x=ec_jwk.x, y=ec_jwk.y)
    with pytest.raises(HttpResponseError) as refused:
        client.import_key("sdk-imported-bad", bad)
    assert refused.value.status_code == 400
    with pytest.raises(ResourceNotFoundError):
        client.get_key("sdk-imported-bad")
