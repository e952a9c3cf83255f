"""Secure key release through the unmodified KeyClient, from a vault and from a Managed HSM: an exportable key with
a release policy goes, wrapped, only to a target whose attestation token — from an authority the test runs over HTTPS, with a certificate of
the server's own CA so that the server trusts it — carries the claims the policy asks for."""

import base64
import datetime
import http.server
import json
import ssl
import tempfile
import threading
import time

import jwt
import pytest
import requests
from azure.core.exceptions import HttpResponseError
from azure.keyvault.keys import KeyClient, KeyReleasePolicy
from azure.keyvault.keys.crypto import CryptographyClient, EncryptionAlgorithm
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.keywrap import aes_key_unwrap_with_padding
from cryptography.x509.oid import NameOID
import ipaddress

from conftest import CONTOSO
from test_keys_sdk import hsm_url, key_client
from test_secrets_sdk import credential_for


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def rsa_jwk(public_key, kid):
    numbers = public_key.public_numbers()
    return {
        "kty": "RSA",
        "kid": kid,
        "n": b64url(numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, "big")),
        "e": b64url(numbers.e.to_bytes(3, "big")),
    }


class Authority:
    """An attestation authority: OpenID discovery and a key set over HTTPS, and tokens signed with its key."""

    def __init__(self, data_dir):
        ca_cert = x509.load_pem_x509_certificate((data_dir / "ca.pem").read_bytes())
        ca_key = serialization.load_pem_private_key((data_dir / "ca-key.pem").read_bytes(), None)
        tls_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        now = datetime.datetime.now(datetime.timezone.utc)
        tls_cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "attestation authority")]))
            .issuer_name(ca_cert.subject)
            .public_key(tls_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
            .sign(ca_key, hashes.SHA256())
        )
        self.folder = tempfile.TemporaryDirectory()
        cert_path, key_path = f"{self.folder.name}/tls.pem", f"{self.folder.name}/tls-key.pem"
        with open(cert_path, "wb") as f:
            f.write(tls_cert.public_bytes(serialization.Encoding.PEM))
        with open(key_path, "wb") as f:
            f.write(tls_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
        self.signing_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        authority = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                documents = {
                    "/.well-known/openid-configuration": {"issuer": authority.url, "jwks_uri": f"{authority.url}/certs"},
                    "/certs": {"keys": [rsa_jwk(authority.signing_key.public_key(), "authority-1")]},
                }
                body = json.dumps(documents.get(self.path, {})).encode()
                self.send_response(200 if self.path in documents else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert_path, key_path)
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.url = f"https://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def token(self, claims, key=None):
        now = int(time.time())
        body = {"iss": self.url, "iat": now, "nbf": now, "exp": now + 600, **claims}
        return jwt.encode(body, key or self.signing_key, algorithm="RS256", headers={"kid": "authority-1"})

    def close(self):
        self.server.shutdown()
        self.folder.cleanup()


@pytest.fixture(scope="module")
def authority(configured_server):
    authority = Authority(configured_server.data_dir)
    yield authority
    authority.close()


def test_an_exportable_key_is_released_only_to_an_attested_target(configured_server, authority):
    client = key_client(configured_server)
    policy = {
        "version": "1.0.0",
        "anyOf": [{"authority": authority.url, "allOf": [{"claim": "x-ms-attestation-type", "equals": "sevsnpvm"}]}],
    }
    key = client.create_rsa_key(
        "sdk-release",
        size=2048,
        exportable=True,
        release_policy=KeyReleasePolicy(json.dumps(policy).encode(), immutable=False),
    )
    assert key.properties.exportable and json.loads(key.properties.release_policy.encoded_policy) == policy

    target = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    runtime = {"keys": [rsa_jwk(target.public_key(), "TpmEphemeralEncryptionKey")]}
    attested = authority.token({"x-ms-attestation-type": "sevsnpvm", "x-ms-runtime": runtime})
    result = client.release_key("sdk-release", attested, nonce="n-1")

    # The answer is a JWS the server signed with a key its tenant publishes.
    jwks_uri = requests.get(
        f"https://localhost:{configured_server.port}/{CONTOSO}/v2.0/.well-known/openid-configuration",
        verify=configured_server.ca,
    ).json()["jwks_uri"]
    signer = jwt.PyJWKClient(jwks_uri, ssl_context=ssl.create_default_context(cafile=configured_server.ca))
    payload = jwt.decode(result.value, signer.get_signing_key_from_jwt(result.value).key, algorithms=["RS256"], options={"verify_aud": False})
    assert payload["request"]["nonce"] == "n-1" and payload["request"]["enc"] == "CKM_RSA_AES_KEY_WRAP"
    released = payload["response"]["key"]["key"]
    assert released["kid"] == key.id and "d" not in released

    # Only the target can unwrap it: RSA-OAEP for the transient AES key, then AES key wrap with padding.
    blob = json.loads(unb64url(released["key_hsm"]))
    assert blob["header"]["kid"] == "TpmEphemeralEncryptionKey"
    ciphertext = unb64url(blob["ciphertext"])
    transient = target.decrypt(ciphertext[:256], padding.OAEP(padding.MGF1(hashes.SHA1()), hashes.SHA1(), None))
    private = serialization.load_der_private_key(aes_key_unwrap_with_padding(transient, ciphertext[256:]), None)
    assert private.public_key().public_numbers().n == int.from_bytes(key.key.n, "big"), "the vault's key, whole"

    def refused(token, name="sdk-release"):
        with pytest.raises(HttpResponseError) as error:
            client.release_key(name, token)
        return error.value.status_code

    assert refused(authority.token({"x-ms-attestation-type": "tdxvm", "x-ms-runtime": runtime})) == 403, "claim"
    forger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    assert refused(authority.token({"x-ms-attestation-type": "sevsnpvm", "x-ms-runtime": runtime}, forger)) == 403
    stranger = jwt.encode({"iss": "https://elsewhere.example", "exp": int(time.time()) + 60}, forger, algorithm="RS256")
    assert refused(stranger) == 403, "an authority the policy does not name"
    client.create_rsa_key("sdk-not-exportable", size=2048)
    assert refused(attested, "sdk-not-exportable") == 400
    with pytest.raises(HttpResponseError) as alone:
        client.create_rsa_key("sdk-exportable-without-policy", size=2048, exportable=True)
    assert alone.value.status_code == 400


def test_a_managed_hsm_releases_an_exportable_aes_key_to_an_attested_target(configured_server, authority):
    """Managed HSM is where symmetric keys live, and its keys are released the same way: the target unwraps the
    AES key itself, and it opens what the HSM sealed with it."""
    client = KeyClient(hsm_url(configured_server), credential_for(configured_server, "admin"),
                       connection_verify=configured_server.ca)
    policy = {
        "version": "1.0.0",
        "anyOf": [{"authority": authority.url, "allOf": [{"claim": "x-ms-attestation-type", "equals": "sevsnpvm"}]}],
    }
    key = client.create_oct_key(
        "sdk-hsm-release", size=256, hardware_protected=True, exportable=True,
        release_policy=KeyReleasePolicy(json.dumps(policy).encode(), immutable=False),
    )
    assert key.key_type == "oct-HSM" and key.properties.exportable
    sealed = CryptographyClient(key, credential_for(configured_server, "admin"),
                                connection_verify=configured_server.ca).encrypt(
        EncryptionAlgorithm.a256_gcm, b"only the attested target reads this")

    target = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    runtime = {"keys": [rsa_jwk(target.public_key(), "TpmEphemeralEncryptionKey")]}
    result = client.release_key("sdk-hsm-release", authority.token({"x-ms-attestation-type": "sevsnpvm",
                                                                     "x-ms-runtime": runtime}))
    payload = jwt.decode(result.value, options={"verify_signature": False})
    released = payload["response"]["key"]["key"]
    assert released["kid"] == key.id and "k" not in released
    ciphertext = unb64url(json.loads(unb64url(released["key_hsm"]))["ciphertext"])
    transient = target.decrypt(ciphertext[:256], padding.OAEP(padding.MGF1(hashes.SHA1()), hashes.SHA1(), None))
    aes_key = aes_key_unwrap_with_padding(transient, ciphertext[256:])
    opened = AESGCM(aes_key).decrypt(sealed.iv, sealed.ciphertext + sealed.tag, None)
    assert opened == b"only the attested target reads this"

    # An attestation the policy does not accept gets nothing.
    with pytest.raises(HttpResponseError) as refused:
        client.release_key("sdk-hsm-release", authority.token({"x-ms-attestation-type": "tdxvm", "x-ms-runtime": runtime}))
    assert refused.value.status_code == 403
