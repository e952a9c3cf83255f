"""The official azure-keyvault-keys SDK, unmodified: KeyClient for the key lifecycle and CryptographyClient for
the operations, each result checked with the `cryptography` package."""

import base64
import hashlib
import json
import time
import os
from datetime import datetime, timedelta, timezone

import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.keyvault.administration import (
    KeyVaultAccessControlClient,
    KeyVaultDataAction,
    KeyVaultPermission,
    KeyVaultRoleScope,
)
from azure.keyvault.keys import (
    JsonWebKey,
    KeyClient,
    KeyRotationLifetimeAction,
    KeyRotationPolicy,
    KeyRotationPolicyAction,
)
from azure.keyvault.keys.crypto import (
    CryptographyClient,
    EncryptionAlgorithm,
    KeyWrapAlgorithm,
    SignatureAlgorithm,
)
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed, encode_dss_signature
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.keywrap import aes_key_unwrap, aes_key_wrap

from conftest import FABRIKAM
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


RSA_SIGNATURES = [
    (SignatureAlgorithm.rs256, hashes.SHA256(), lambda h: padding.PKCS1v15()),
    (SignatureAlgorithm.rs384, hashes.SHA384(), lambda h: padding.PKCS1v15()),
    (SignatureAlgorithm.rs512, hashes.SHA512(), lambda h: padding.PKCS1v15()),
    (SignatureAlgorithm.ps256, hashes.SHA256(), lambda h: padding.PSS(mgf=padding.MGF1(h), salt_length=h.digest_size)),
    (SignatureAlgorithm.ps384, hashes.SHA384(), lambda h: padding.PSS(mgf=padding.MGF1(h), salt_length=h.digest_size)),
    (SignatureAlgorithm.ps512, hashes.SHA512(), lambda h: padding.PSS(mgf=padding.MGF1(h), salt_length=h.digest_size)),
]


def digest_of(hash_algorithm, message=b"message"):
    hasher = hashes.Hash(hash_algorithm)
    hasher.update(message)
    return hasher.finalize()


@pytest.mark.parametrize("size", [2048, 3072, 4096])
def test_rsa_operations_check_out_with_the_cryptography_package(configured_server, size):
    key = key_client(configured_server).create_rsa_key(f"sdk-rsa-ops-{size}", size=size)
    crypto = crypto_client(configured_server, key)
    on_server = remote_crypto(configured_server, key.id)
    public = rsa.RSAPublicNumbers(number(key.key.e), number(key.key.n)).public_key()
    assert public.key_size == size

    for algorithm, hash_algorithm, pad in RSA_SIGNATURES:
        digest = digest_of(hash_algorithm)
        signed = crypto.sign(algorithm, digest)
        assert len(signed.signature) == size // 8
        public.verify(signed.signature, digest, pad(hash_algorithm), Prehashed(hash_algorithm))
        assert crypto.verify(algorithm, digest, signed.signature).is_valid, "verified by the SDK, locally"
        assert on_server.verify(algorithm, digest, signed.signature).is_valid, "verified by the server"
        assert not on_server.verify(algorithm, digest_of(hash_algorithm, b"other"), signed.signature).is_valid

    digest = hashlib.sha256(b"message").digest()
    for algorithm, pad in [
        (EncryptionAlgorithm.rsa_oaep, padding.OAEP(mgf=padding.MGF1(hashes.SHA1()), algorithm=hashes.SHA1(), label=None)),
        (EncryptionAlgorithm.rsa_oaep_256, padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)),
        (EncryptionAlgorithm.rsa1_5, padding.PKCS1v15()),
    ]:
        ciphertext = public.encrypt(b"plaintext", pad)
        assert crypto.decrypt(algorithm, ciphertext).plaintext == b"plaintext"
        assert crypto.decrypt(algorithm, crypto.encrypt(algorithm, b"again").ciphertext).plaintext == b"again"
        assert crypto.decrypt(algorithm, on_server.encrypt(algorithm, b"server").ciphertext).plaintext == b"server"

    secret_key = os.urandom(32)
    for algorithm in (KeyWrapAlgorithm.rsa_oaep, KeyWrapAlgorithm.rsa_oaep_256, KeyWrapAlgorithm.rsa1_5):
        wrapped = crypto.wrap_key(algorithm, secret_key)
        assert crypto.unwrap_key(algorithm, wrapped.encrypted_key).key == secret_key
        assert crypto.unwrap_key(algorithm, on_server.wrap_key(algorithm, secret_key).encrypted_key).key == secret_key

    # Refusals, each a 400 and nothing changed: a digest of the wrong length, an algorithm of another key type.
    for call in (lambda: crypto.sign(SignatureAlgorithm.rs384, digest), lambda: crypto.sign(SignatureAlgorithm.es256, digest)):
        with pytest.raises(HttpResponseError) as refused:
            call()
        assert refused.value.status_code == 400


def test_ec_signatures_are_raw_and_verify_with_the_cryptography_package(configured_server):
    client = key_client(configured_server)
    for curve, algorithm, hash_algorithm in [
        ("P-256", SignatureAlgorithm.es256, hashes.SHA256()),
        ("P-384", SignatureAlgorithm.es384, hashes.SHA384()),
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
        curve_class = {"P-256": ec.SECP256R1, "P-384": ec.SECP384R1, "P-521": ec.SECP521R1, "P-256K": ec.SECP256K1}[curve]
        public = ec.EllipticCurvePublicNumbers(number(key.key.x), number(key.key.y), curve_class()).public_key()
        der = encode_dss_signature(number(signature[:half]), number(signature[half:]))
        public.verify(der, digest, ec.ECDSA(Prehashed(hash_algorithm)))
        assert crypto.verify(algorithm, digest, signature).is_valid
        assert remote_crypto(configured_server, key.id).verify(algorithm, digest, signature).is_valid, "on the server"

    disabled = client.create_ec_key("sdk-ec-disabled", curve="P-256")
    client.update_key_properties("sdk-ec-disabled", enabled=False)
    with pytest.raises(HttpResponseError) as refused:
        crypto_client(configured_server, disabled.id).sign(SignatureAlgorithm.es256, hashlib.sha256(b"m").digest())
    assert refused.value.status_code == 403
    only_verify = client.create_ec_key("sdk-ec-verify-only", curve="P-256", key_operations=["verify"])
    with pytest.raises(HttpResponseError) as refused:
        crypto_client(configured_server, only_verify.id).sign(SignatureAlgorithm.es256, hashlib.sha256(b"m").digest())
    assert refused.value.status_code == 403 and refused.value.error.innererror["code"] == "KeyOperationForbidden"


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


def test_rotation_policies_random_bytes_and_attestation_through_the_key_client(configured_server):
    client = key_client(configured_server)
    client.create_ec_key("sdk-policy", curve="P-256")
    default = client.get_key_rotation_policy("sdk-policy")
    assert [(a.action, a.time_before_expiry) for a in default.lifetime_actions] == [(KeyRotationPolicyAction.notify, "P30D")]

    rotate_monthly = KeyRotationLifetimeAction(KeyRotationPolicyAction.rotate, time_after_create="P30D")
    notify = KeyRotationLifetimeAction(KeyRotationPolicyAction.notify, time_before_expiry="P7D")
    updated = client.update_key_rotation_policy(
        "sdk-policy", KeyRotationPolicy(), lifetime_actions=[rotate_monthly, notify], expires_in="P90D"
    )
    assert updated.id.endswith("/keys/sdk-policy/rotationpolicy") and updated.expires_in == "P90D"
    assert updated.created_on and updated.updated_on
    actions = {a.action: a for a in client.get_key_rotation_policy("sdk-policy").lifetime_actions}
    assert actions[KeyRotationPolicyAction.rotate].time_after_create == "P30D"
    assert actions[KeyRotationPolicyAction.notify].time_before_expiry == "P7D"

    rotated = client.rotate_key("sdk-policy")
    assert rotated.properties.expires_on - rotated.properties.created_on == timedelta(days=90), "expiryTime applies"
    with pytest.raises(HttpResponseError) as too_short:
        client.update_key_rotation_policy("sdk-policy", KeyRotationPolicy(), expires_in="P7D")
    assert too_short.value.status_code == 400 and too_short.value.error.code == "BadParameter"
    assert client.get_key_rotation_policy("sdk-policy").expires_in == "P90D", "a refused policy changes nothing"

    first, second = client.get_random_bytes(32), client.get_random_bytes(32)
    assert len(first) == 32 and first != second
    with pytest.raises(HttpResponseError) as too_many:
        client.get_random_bytes(129)
    assert too_many.value.status_code == 400
    attested = client.get_key_attestation("sdk-policy")
    assert attested.id == rotated.id and attested.key.crv == "P-256"

    crypto = client.get_cryptography_client("sdk-policy")
    digest = hashlib.sha256(b"through the key client").digest()
    signed = crypto.sign(SignatureAlgorithm.es256, digest)
    assert crypto.verify(SignatureAlgorithm.es256, digest, signed.signature).is_valid


def remote_crypto(server, key_id):
    """A CryptographyClient for a principal that may use keys but not read them: the SDK cannot fetch the key, so
    it sends every operation to the server."""
    return CryptographyClient(key_id, credential_for(server, "crypto-only"), connection_verify=server.ca)


def test_a_vault_refuses_aes_keys_as_key_vault_does(configured_server):
    client = key_client(configured_server)
    hsm = KeyClient(
        hsm_url(configured_server), credential_for(configured_server, "admin"), connection_verify=configured_server.ca
    )
    hsm.create_oct_key("sdk-aes", size=256)
    backup = hsm.backup_key("sdk-aes")
    attempts = [
        lambda: client.create_oct_key("sdk-aes", size=256),
        lambda: client.create_oct_key("sdk-aes", size=256, hardware_protected=True),
        lambda: client.import_key("sdk-aes", JsonWebKey(kty="oct", k=os.urandom(32))),
        lambda: client.restore_key_backup(backup),
    ]
    for attempt in attempts:
        with pytest.raises(HttpResponseError) as refused:
            attempt()
        assert refused.value.status_code == 400 and refused.value.error.code == "BadParameter"
        assert refused.value.error.innererror == {"code": "KeyTypeNotSupported"}
    with pytest.raises(ResourceNotFoundError):
        client.get_key("sdk-aes")


def hsm_url(server):
    return f"https://billing-hsm.managedhsm.localhost:{server.port}"


@pytest.fixture(scope="module")
def aes_user(configured_server):
    """crypto-only in the HSM billing-hsm, with a role of the test's own that uses keys but may not read them.
    A CryptographyClient that can read an AES key gets it without its material, and azure-keyvault-keys'
    local provider then makes up a key of its own for CBC and key wrap; one that cannot sends every operation
    to the server."""
    admin = KeyVaultAccessControlClient(
        hsm_url(configured_server), credential_for(configured_server, "admin"), connection_verify=configured_server.ca
    )
    actions = ["ENCRYPT_HSM_KEY", "DECRYPT_HSM_KEY", "WRAP_HSM_KEY", "UNWRAP_HSM_KEY"]
    role = admin.set_role_definition(
        KeyVaultRoleScope.GLOBAL,
        role_name="AES user",
        permissions=[KeyVaultPermission(data_actions=[getattr(KeyVaultDataAction, a) for a in actions])],
    )
    credential = credential_for(configured_server, "crypto-only")
    token = credential.get_token(f"https://managedhsm.localhost:{configured_server.port}/.default").token
    claims = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
    admin.create_role_assignment(KeyVaultRoleScope.GLOBAL, role.id, claims["oid"])
    return credential


@pytest.mark.parametrize("size", [128, 192, 256])
def test_aes_keys_encrypt_and_wrap_on_the_server_as_the_cryptography_package_does(configured_server, aes_user, size):
    # AES keys are Managed HSM's.
    client = KeyClient(
        hsm_url(configured_server), credential_for(configured_server, "admin"), connection_verify=configured_server.ca
    )
    key = client.create_oct_key(f"sdk-aes-{size}", size=size)
    assert key.key_type == "oct-HSM" and not key.key.k, "an AES key never leaves the HSM"
    assert set(key.key_operations) == {"encrypt", "decrypt", "wrapKey", "unwrapKey"}
    with pytest.raises(HttpResponseError) as unread:
        KeyClient(hsm_url(configured_server), aes_user, connection_verify=configured_server.ca).get_key(key.name)
    assert unread.value.status_code == 403, "the AES user may not read the key, so the SDK asks the server"
    crypto = CryptographyClient(key.id, aes_user, connection_verify=configured_server.ca)
    algorithm = lambda mode: getattr(EncryptionAlgorithm, f"a{size}_{mode}")

    gcm = crypto.encrypt(algorithm("gcm"), b"gcm plaintext", additional_authenticated_data=b"context")
    assert len(gcm.iv) == 12 and len(gcm.tag) == 16
    opened = crypto.decrypt(
        algorithm("gcm"), gcm.ciphertext, iv=gcm.iv, authentication_tag=gcm.tag, additional_authenticated_data=b"context"
    )
    assert opened.plaintext == b"gcm plaintext"
    with pytest.raises(HttpResponseError) as tampered:
        crypto.decrypt(
            algorithm("gcm"), gcm.ciphertext, iv=gcm.iv, authentication_tag=gcm.tag, additional_authenticated_data=b"other"
        )
    assert tampered.value.status_code == 400

    iv = os.urandom(16)
    padded = crypto.encrypt(algorithm("cbcpad"), b"eleven byte", iv=iv)
    assert padded.iv == iv and len(padded.ciphertext) == 16
    assert crypto.decrypt(algorithm("cbcpad"), padded.ciphertext, iv=iv).plaintext == b"eleven byte"
    blocks = crypto.encrypt(algorithm("cbc"), bytes(range(32)), iv=iv)
    assert crypto.decrypt(algorithm("cbc"), blocks.ciphertext, iv=iv).plaintext == bytes(range(32))

    wrap = getattr(KeyWrapAlgorithm, f"aes_{size}")
    wrapped = crypto.wrap_key(wrap, b"k" * 32)
    assert len(wrapped.encrypted_key) == 40
    assert crypto.unwrap_key(wrap, wrapped.encrypted_key).key == b"k" * 32

    # The same answers from the cryptography package, with the key imported where the test knows it.
    secret = os.urandom(size // 8)
    imported = client.import_key(f"sdk-aes-imported-{size}", JsonWebKey(kty="oct", k=secret, key_ops=["encrypt", "decrypt", "wrapKey", "unwrapKey"]))
    assert imported.key_type == "oct-HSM", "every key of an HSM is a hardware key"
    known = CryptographyClient(imported.id, aes_user, connection_verify=configured_server.ca)
    gcm = known.encrypt(algorithm("gcm"), b"cross-checked", additional_authenticated_data=b"aad")
    assert AESGCM(secret).decrypt(gcm.iv, gcm.ciphertext + gcm.tag, b"aad") == b"cross-checked"
    padded = known.encrypt(algorithm("cbcpad"), b"cross-checked", iv=iv)
    decryptor = Cipher(algorithms.AES(secret), modes.CBC(iv)).decryptor()
    plain = decryptor.update(padded.ciphertext) + decryptor.finalize()
    assert plain[: -plain[-1]] == b"cross-checked"
    assert known.wrap_key(wrap, b"w" * 24).encrypted_key == aes_key_wrap(secret, b"w" * 24)
    assert known.unwrap_key(wrap, aes_key_wrap(secret, b"x" * 16)).key == b"x" * 16

    # The imported key is sealed at rest: no file of the data directory holds it, in any encoding.
    encodings = [secret, base64.b64encode(secret), base64.urlsafe_b64encode(secret).rstrip(b"=")]
    for path in configured_server.data_dir.rglob("*"):
        if path.is_file():
            content = path.read_bytes()
            assert not any(e in content for e in encodings), f"{path} holds the AES key"


def test_bad_operations_are_refused_with_key_vault_codes_and_change_nothing(configured_server):
    client = key_client(configured_server)
    key = client.create_rsa_key("sdk-refusals", size=2048, key_operations=["sign", "verify", "decrypt", "encrypt"])
    crypto = remote_crypto(configured_server, key.id)

    def refused(operation, status=400):
        with pytest.raises(HttpResponseError) as error:
            operation()
        assert error.value.status_code == status, error.value.message
        return error.value

    digest = hashlib.sha256(b"m").digest()
    assert refused(lambda: crypto.sign(SignatureAlgorithm.rs384, digest)).error.code == "BadParameter", "digest length"
    assert refused(lambda: crypto.sign(SignatureAlgorithm.es256, digest)).error.code == "BadParameter", "EC alg, RSA key"
    not_listed = refused(lambda: crypto.wrap_key(KeyWrapAlgorithm.rsa_oaep, b"k" * 32), status=403)
    assert (not_listed.error.code, not_listed.error.innererror["code"]) == ("Forbidden", "KeyOperationForbidden")
    assert refused(lambda: crypto.encrypt(EncryptionAlgorithm.rsa_oaep, b"x" * 300)).error.code == "BadParameter", "oversized"
    assert refused(lambda: crypto.encrypt(EncryptionAlgorithm.a256_gcm, b"x")).error.code == "BadParameter", "AES alg, RSA key"
    client.update_key_properties("sdk-refusals", enabled=False)
    assert refused(lambda: crypto.sign(SignatureAlgorithm.rs256, digest), status=403).error.code == "Forbidden", "disabled"
    future = datetime.fromtimestamp(time.time() + 3600, timezone.utc)
    client.update_key_properties("sdk-refusals", enabled=True, not_before=future)
    assert refused(lambda: crypto.sign(SignatureAlgorithm.rs256, digest), status=403).error.code == "Forbidden", "nbf"
    past = datetime.fromtimestamp(time.time() - 3600, timezone.utc)
    client.update_key_properties("sdk-refusals", not_before=past, expires_on=past)
    assert refused(lambda: crypto.sign(SignatureAlgorithm.rs256, digest), status=403).error.code == "Forbidden", "exp"

    after = client.get_key("sdk-refusals")
    assert after.properties.version == key.properties.version and after.key.n == key.key.n, "nothing changed"
    assert [p.version for p in client.list_properties_of_key_versions("sdk-refusals")] == [key.properties.version]


def test_an_operation_the_key_does_not_list_is_forbidden_as_key_vault_says_it(configured_server):
    client = key_client(configured_server)
    key = client.create_rsa_key("sdk-signs-only", size=2048, key_operations=["sign", "verify"])
    # The SDK encrypts locally only with a key whose key_ops list encrypt; this one goes to the vault.
    crypto = crypto_client(configured_server, key)
    with pytest.raises(HttpResponseError) as refused:
        crypto.encrypt(EncryptionAlgorithm.rsa_oaep, b"plain")
    error = refused.value
    assert error.status_code == 403
    assert (error.error.code, error.error.innererror["code"]) == ("Forbidden", "KeyOperationForbidden")
    assert error.error.message == "Operation encrypt is not permitted on this key."
    signed = crypto.sign(SignatureAlgorithm.rs256, hashlib.sha256(b"m").digest())
    assert signed.key_id == key.id, "what key_ops lists still runs"


def test_hsm_keys_need_a_premium_vault(configured_server):
    standard = KeyClient(
        f"https://fabrikam-vault.vault.localhost:{configured_server.port}",
        credential_for(configured_server, "outsider", FABRIKAM),
        connection_verify=configured_server.ca,
    )
    for create in (
        lambda: standard.create_rsa_key("sdk-hsm", size=2048, hardware_protected=True),
        lambda: standard.create_ec_key("sdk-hsm", curve="P-256", hardware_protected=True),
    ):
        with pytest.raises(HttpResponseError) as refused:
            create()
        assert refused.value.status_code == 403 and refused.value.error.code == "Forbidden"
        assert refused.value.error.message == "Hardware key operation not allowed on standard vault."
    with pytest.raises(ResourceNotFoundError):
        standard.get_key("sdk-hsm")
    assert standard.create_rsa_key("sdk-hsm", size=2048).key_type == "RSA", "software keys are the standard SKU's"

    premium = key_client(configured_server)  # billing is premium
    assert premium.create_rsa_key("sdk-hsm", size=2048, hardware_protected=True).key_type == "RSA-HSM"
    assert premium.create_ec_key("sdk-hsm-ec", curve="P-256", hardware_protected=True).key_type == "EC-HSM"
