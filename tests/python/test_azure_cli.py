"""The real Azure CLI (`azure-cli` from PyPI, unmodified; scripts/azcli-env installs it and STRONGROOM_AZ names its
`az`) against the real `strongroom` binary, each command typed as a user types it.

Every `az` process gets a fresh `AZURE_CONFIG_DIR`, trusts the installation's CA through `REQUESTS_CA_BUNDLE`,
sends no telemetry and reads no stdin. Host names resolve the way a hosts line makes them: the folder
`azure_cli/` is on the process's PYTHONPATH, and its `sitecustomize.py` resolves `localhost` and `*.localhost` to
the loopback address this module's server has to itself (see that file for why not /etc/hosts). The server
listens there on its port and, when the tests run as root, on 443 too (MSAL's user-realm lookup of the password
flow always goes to port 443), and on 127.0.0.1 with the same port, where this process and the `strongroom` admin
command reach it to check what the CLI did.
"""

import base64
import hashlib
import json
import os
import pathlib
import re
import shutil
import subprocess
import tempfile
import textwrap
import uuid

import pytest
import requests

from conftest import APPS, CONTOSO, Server, app_secret, free_port, server_section, strongroom_cli
from fake_browser import hidden_fields
from wrapping_keys import wrapping_key

AZ = os.environ.get("STRONGROOM_AZ")
if not AZ:
    if os.environ.get("CI") == "true":
        raise RuntimeError("STRONGROOM_AZ is not set under CI (scripts/azcli-env makes it)")
    pytest.skip("STRONGROOM_AZ names no Azure CLI (scripts/test sets it)", allow_module_level=True)

# The loopback address the CLI's host names resolve to; no other test listens there, so port 443 is free even
# while the session's other servers hold 127.0.0.1:443.
LOOPBACK = "127.0.0.30"
AS_ROOT = os.geteuid() == 0
RESOLVER = pathlib.Path(__file__).resolve().with_name("azure_cli")

DEPLOYER = "5b7a1c2d-0000-4000-8000-00000000c001"
WEB_API = "5b7a1c2d-0000-4000-8000-00000000c002"
PASSWORD = "Correct-Horse-7"


def config(data_dir, port):
    """One tenant: the `deployer` application the CLI signs in as (it owns the subscription, runs the directory
    and administers every vault), the user alice with the same rights, a `web-api` application and the group
    `ops` for role assignments to land on, the vault `billing` with one secret, and the Managed HSM `clihsm`, which
    the deployer administers and uses, and three more it administers, for their security domains. The admin application is the one the `strongroom` command signs in as
    (conftest.strongroom_cli)."""
    listen = [f"127.0.0.1:{port}", f"{LOOPBACK}:{port}"] + ([f"{LOOPBACK}:443"] if AS_ROOT else [])
    roles = ["Owner", "Global Administrator", "Key Vault Administrator"]
    assignments = "".join(
        f'\n[[tenant.role_assignment]]\nprincipal = "{principal}"\nrole = "{role}"\n'
        for principal in ["admin", "deployer", "alice"]
        for role in roles
    )
    return server_section(data_dir, json.dumps(listen)) + textwrap.dedent(
        f"""
        [[tenant]]
        name = "contoso"
        id = "{CONTOSO}"

        [[tenant.app]]
        name = "admin"
        client_id = "{APPS['admin']}"
        secrets = ["{app_secret('admin')}"]

        [[tenant.app]]
        name = "deployer"
        client_id = "{DEPLOYER}"
        secrets = ["{app_secret('deployer')}"]

        [[tenant.app]]
        name = "web-api"
        client_id = "{WEB_API}"
        secrets = ["{app_secret('web-api')}"]

        [[tenant.user]]
        name = "alice"
        password = "{PASSWORD}"

        [[tenant.group]]
        name = "ops"
        """
    ) + assignments + textwrap.dedent(
        """
        [[tenant.vault]]
        name = "billing"

        [[tenant.vault.secret]]
        name = "seeded"
        value = "seeded-value-42"

        [[tenant.managed_hsm]]
        name = "clihsm"
        administrators = ["deployer"]
        activated = true

        [[tenant.managed_hsm.role_assignment]]
        principal = "deployer"
        role = "Managed HSM Crypto User"

        [[tenant.managed_hsm]]
        name = "contoso-hsm"
        administrators = ["deployer"]

        [[tenant.managed_hsm.role_assignment]]
        principal = "deployer"
        role = "Managed HSM Crypto User"

        [[tenant.managed_hsm]]
        name = "spare-hsm"
        administrators = ["deployer"]

        [[tenant.managed_hsm.role_assignment]]
        principal = "deployer"
        role = "Managed HSM Crypto User"

        [[tenant.managed_hsm]]
        name = "other-hsm"
        administrators = ["deployer"]

        [[tenant.managed_hsm.role_assignment]]
        principal = "deployer"
        role = "Managed HSM Crypto User"
        """
    )


@pytest.fixture(scope="module")
def server():
    with tempfile.TemporaryDirectory() as data_dir:
        port = free_port("127.0.0.1", LOOPBACK)
        path = pathlib.Path(data_dir) / "strongroom.toml"
        path.write_text(config(data_dir, port))
        server = Server(["serve", "--config", str(path)], data_dir).start()
        try:
            yield server
        finally:
            server.stop()


class AzError(AssertionError):
    """An `az` command that failed: its arguments, exit code and error output."""


class Az:
    """The Azure CLI of one user: one configuration directory."""

    def __init__(self, server, config_dir):
        self.server = server
        self.config_dir = pathlib.Path(config_dir)
        self.config_dir.mkdir(parents=True, exist_ok=True)

    def env(self):
        path = os.environ.get("PYTHONPATH")
        return {
            **{k: v for k, v in os.environ.items() if not k.startswith(("AZURE_", "IDENTITY_", "MSI_"))},
            "AZURE_CONFIG_DIR": str(self.config_dir),
            "AZURE_CORE_COLLECT_TELEMETRY": "false",
            "AZURE_CORE_NO_COLOR": "true",
            "REQUESTS_CA_BUNDLE": self.server.ca,
            "PYTHONPATH": f"{RESOLVER}{os.pathsep}{path}" if path else str(RESOLVER),
            "STRONGROOM_AZ_LOOPBACK": LOOPBACK,
        }

    def run(self, *args, timeout=120):
        return subprocess.run(
            [AZ, *args], env=self.env(), capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=timeout
        )

    def __call__(self, *args, timeout=120):
        """Runs `az args…` and returns its JSON answer (None for no output); a failure raises with its stderr."""
        done = self.run(*args, timeout=timeout)
        if done.returncode != 0:
            raise AzError(f"az {' '.join(args)} → exit {done.returncode}\n{done.stderr.strip()}")
        return json.loads(done.stdout) if done.stdout.strip() else None

    def fails(self, *args):
        """Runs a command that must fail; its error output."""
        done = self.run(*args)
        assert done.returncode != 0, f"az {' '.join(args)} succeeded: {done.stdout}"
        return done.stderr

    def copy(self, config_dir):
        """Another configuration directory, starting from this one's (a user's second machine)."""
        shutil.copytree(self.config_dir, config_dir)
        return Az(self.server, config_dir)


def resource_manager(server):
    return f"https://management.localhost:{server.port}/"


@pytest.fixture(scope="module")
def registered(server, tmp_path_factory):
    """A configuration with Strongroom registered as a cloud from its Resource Manager URL alone, and chosen."""
    az = Az(server, tmp_path_factory.mktemp("az") / "registered")
    az("cloud", "register", "-n", "Strongroom", "--endpoint-resource-manager", resource_manager(server))
    az("cloud", "set", "-n", "Strongroom")
    # MSAL asks login.microsoftonline.com to vouch for any sign-in host it does not know, which a private cloud's
    # is not; the CLI's setting for private clouds (Azure Stack) turns that off.
    az("config", "set", "core.instance_discovery=false")
    return az


@pytest.fixture(scope="module")
def az(registered, tmp_path_factory):
    """The CLI signed in as the deployer application, plainly."""
    az = registered.copy(tmp_path_factory.mktemp("az") / "deployer")
    az("login", "--service-principal", "-u", DEPLOYER, "-p", app_secret("deployer"), "--tenant", CONTOSO)
    return az


@pytest.fixture(scope="module")
def subscription(az):
    return az("account", "show")["id"]


def vault_url(server, name):
    return f"https://{name}.vault.localhost:{server.port}"


def test_cloud_register_and_service_principal_sign_in(server, registered, az):
    cloud = registered("cloud", "show")
    assert cloud["name"] == "Strongroom" and cloud["isActive"]
    assert cloud["endpoints"]["resourceManager"] == resource_manager(server)
    assert cloud["endpoints"]["activeDirectory"].rstrip("/") == f"https://localhost:{server.port}"
    assert cloud["suffixes"]["keyvaultDns"] == f".vault.localhost:{server.port}"

    account = az("account", "show")
    assert account["tenantId"] == CONTOSO and account["user"] == {"name": DEPLOYER, "type": "servicePrincipal"}
    assert account["environmentName"] == "Strongroom" and account["state"] == "Enabled"
    assert [a["id"] for a in az("account", "list")] == [account["id"]]
    assert az("account", "get-access-token")["tenant"] == CONTOSO


def test_secrets(server, az, tmp_path):
    v = ["--vault-name", "billing"]
    assert az("keyvault", "secret", "show", *v, "-n", "seeded")["value"] == "seeded-value-42"
    first = az("keyvault", "secret", "set", *v, "-n", "db-password", "--value", "one", "--tags", "team=billing")
    second = az("keyvault", "secret", "set", *v, "-n", "db-password", "--value", "two", "--content-type", "text/plain")
    assert first["id"] != second["id"] and second["value"] == "two"
    assert az("keyvault", "secret", "show", "--id", first["id"])["value"] == "one"
    assert {s["name"] for s in az("keyvault", "secret", "list", *v)} >= {"seeded", "db-password"}
    assert len(az("keyvault", "secret", "list-versions", *v, "-n", "db-password")) == 2
    updated = az("keyvault", "secret", "set-attributes", *v, "-n", "db-password", "--tags", "rotated=yes")
    assert updated["tags"] == {"rotated": "yes"}
    az("keyvault", "secret", "set-attributes", "--id", first["id"], "--enabled", "false")
    assert "Forbidden" in az.fails("keyvault", "secret", "show", "--id", first["id"])

    download = tmp_path / "secret.txt"
    az("keyvault", "secret", "download", *v, "-n", "db-password", "--file", str(download))
    assert download.read_text() == "two"
    backup = tmp_path / "secret.backup"
    az("keyvault", "secret", "backup", *v, "-n", "db-password", "--file", str(backup))

    deleted = az("keyvault", "secret", "delete", *v, "-n", "db-password")
    assert deleted["recoveryId"].endswith("/deletedsecrets/db-password")
    assert az("keyvault", "secret", "show-deleted", *v, "-n", "db-password")["name"] == "db-password"
    assert "db-password" in {s["name"] for s in az("keyvault", "secret", "list-deleted", *v)}
    az("keyvault", "secret", "recover", *v, "-n", "db-password")
    assert az("keyvault", "secret", "show", *v, "-n", "db-password")["value"] == "two"

    az("keyvault", "secret", "delete", *v, "-n", "db-password")
    az("keyvault", "secret", "purge", *v, "-n", "db-password")
    assert "SecretNotFound" in az.fails("keyvault", "secret", "show", *v, "-n", "db-password")
    restored = az("keyvault", "secret", "restore", *v, "--file", str(backup))
    assert restored["name"] == "db-password"
    assert az("keyvault", "secret", "show", *v, "-n", "db-password")["value"] == "two"


def pem_rsa_key(path):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return key


def test_keys(server, az, tmp_path):
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding

    v = ["--vault-name", "billing"]
    rsa_key = az("keyvault", "key", "create", *v, "-n", "signer", "--kty", "RSA", "--size", "2048")
    assert rsa_key["key"]["kty"] == "RSA"
    ec_key = az("keyvault", "key", "create", *v, "-n", "ec", "--kty", "EC", "--curve", "P-256", "--ops", "sign", "verify")
    assert ec_key["key"]["crv"] == "P-256"
    pem = tmp_path / "imported.pem"
    private = pem_rsa_key(pem)
    imported = az("keyvault", "key", "import", *v, "-n", "imported", "--pem-file", str(pem))
    assert imported["key"]["n"] and imported["key"]["d"] is None

    assert az("keyvault", "key", "show", *v, "-n", "signer")["key"]["kid"] == rsa_key["key"]["kid"]
    assert {k["name"] for k in az("keyvault", "key", "list", *v)} >= {"signer", "ec", "imported"}
    rotated = az("keyvault", "key", "rotate", *v, "-n", "signer")
    assert rotated["key"]["kid"] != rsa_key["key"]["kid"]
    assert len(az("keyvault", "key", "list-versions", *v, "-n", "signer")) == 2
    updated = az("keyvault", "key", "set-attributes", *v, "-n", "signer", "--tags", "team=billing")
    assert updated["tags"] == {"team": "billing"}

    # Cryptography on the server, checked with the `cryptography` package.
    plaintext = base64.b64encode(b"attack at dawn").decode()
    encrypted = az("keyvault", "key", "encrypt", *v, "-n", "imported", "-a", "RSA-OAEP-256", "--value", plaintext)
    ciphertext = base64.b64decode(encrypted["result"])
    oaep = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
    assert private.decrypt(ciphertext, oaep) == b"attack at dawn"
    decrypted = az("keyvault", "key", "decrypt", *v, "-n", "imported", "-a", "RSA-OAEP-256", "--value", encrypted["result"])
    assert base64.b64decode(decrypted["result"]) == b"attack at dawn"
    digest = base64.b64encode(hashlib.sha256(b"invoice 42").digest()).decode()
    signed = az("keyvault", "key", "sign", *v, "-n", "imported", "-a", "RS256", "--digest", digest)
    private.public_key().verify(base64.b64decode(signed["signature"]), b"invoice 42", padding.PKCS1v15(), hashes.SHA256())
    rs256 = ["-a", "RS256", "--digest", digest]
    verified = az("keyvault", "key", "verify", *v, "-n", "imported", *rs256, "--signature", signed["signature"])
    assert verified["isValid"] is True
    ec_signed = az("keyvault", "key", "sign", *v, "-n", "ec", "-a", "ES256", "--digest", digest)
    es256 = ["-a", "ES256", "--digest", digest, "--signature", ec_signed["signature"]]
    assert az("keyvault", "key", "verify", *v, "-n", "ec", *es256)["isValid"] is True

    public = tmp_path / "public.pem"
    az("keyvault", "key", "download", *v, "-n", "imported", "--file", str(public))
    downloaded = serialization.load_pem_public_key(public.read_bytes())
    assert downloaded.public_numbers() == private.public_key().public_numbers()

    policy = {
        "lifetimeActions": [{"trigger": {"timeBeforeExpiry": "P30D"}, "action": {"type": "Rotate"}}],
        "attributes": {"expiryTime": "P90D"},
    }
    set_policy = az("keyvault", "key", "rotation-policy", "update", *v, "-n", "signer", "--value", json.dumps(policy))
    assert set_policy["expiresIn"] == "P90D"
    assert az("keyvault", "key", "rotation-policy", "show", *v, "-n", "signer")["expiresIn"] == "P90D"
    assert len(az("keyvault", "key", "random", "--count", "16", "--id", vault_url(server, "billing"))["value"]) > 0
    # The key's bundle comes back without an attestation blob (there is no HSM to attest it), which the CLI
    # prints as nothing.
    assert az("keyvault", "key", "get-attestation", "--id", rsa_key["key"]["kid"].rsplit("/", 1)[0]) is None
    assert az("keyvault", "key", "get-policy-template")["version"] == "1.0.0"

    backup = tmp_path / "key.backup"
    az("keyvault", "key", "backup", *v, "-n", "signer", "--file", str(backup))
    assert az("keyvault", "key", "delete", *v, "-n", "signer")["recoveryId"].endswith("/deletedkeys/signer")
    assert az("keyvault", "key", "show-deleted", *v, "-n", "signer")["key"]["kid"]
    assert "signer" in {k["name"] for k in az("keyvault", "key", "list-deleted", *v)}
    az("keyvault", "key", "recover", *v, "-n", "signer")
    az("keyvault", "key", "delete", *v, "-n", "signer")
    az("keyvault", "key", "purge", *v, "-n", "signer")
    assert "KeyNotFound" in az.fails("keyvault", "key", "show", *v, "-n", "signer")
    assert az("keyvault", "key", "restore", *v, "--file", str(backup))["key"]["kid"]
    assert len(az("keyvault", "key", "list-versions", *v, "-n", "signer")) == 2


def sign_request(csr_base64):
    """The PEM chain (leaf, then CA) a CA of the test's own makes for a base64 DER certificate request."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    request = x509.load_der_x509_csr(base64.b64decode(csr_base64))
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Test CA")])
    now = datetime.datetime.now(datetime.timezone.utc)

    def issue(subject, public_key, is_ca):
        return (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(ca_name)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=is_ca, path_length=None), critical=True)
            .sign(ca_key, hashes.SHA256())
        )

    leaf = issue(request.subject, request.public_key(), False)
    ca = issue(ca_name, ca_key.public_key(), True)
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in [leaf, ca])


def test_certificates(server, az, tmp_path):
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import pkcs12

    v = ["--vault-name", "billing"]
    policy = tmp_path / "policy.json"
    default_policy = az("keyvault", "certificate", "get-default-policy")
    default_policy["x509CertificateProperties"]["subject"] = "CN=billing.contoso.com"
    policy.write_text(json.dumps(default_policy))
    created = az("keyvault", "certificate", "create", *v, "-n", "web", "--policy", f"@{policy}")
    assert created["status"] == "completed"
    shown = az("keyvault", "certificate", "show", *v, "-n", "web")
    assert shown["policy"]["x509CertificateProperties"]["subject"] == "CN=billing.contoso.com"

    pem = tmp_path / "web.pem"
    az("keyvault", "certificate", "download", *v, "-n", "web", "--file", str(pem))
    assert x509.load_pem_x509_certificate(pem.read_bytes()).subject.rfc4514_string() == "CN=billing.contoso.com"
    pfx = tmp_path / "web.pfx"
    az("keyvault", "secret", "download", *v, "-n", "web", "--file", str(pfx), "--encoding", "base64")
    key, certificate, _ = pkcs12.load_key_and_certificates(pfx.read_bytes(), None)
    assert key is not None and certificate.subject.rfc4514_string() == "CN=billing.contoso.com"

    imported = az("keyvault", "certificate", "import", *v, "-n", "imported-cert", "--file", str(pfx))
    assert imported["x509ThumbprintHex"] == shown["x509ThumbprintHex"]
    az("keyvault", "certificate", "create", *v, "-n", "web", "--policy", f"@{policy}")
    assert len(az("keyvault", "certificate", "list-versions", *v, "-n", "web")) == 2
    assert {c["name"] for c in az("keyvault", "certificate", "list", *v)} >= {"web", "imported-cert"}
    updated = az("keyvault", "certificate", "set-attributes", *v, "-n", "web", "--tags", "team=billing")
    assert updated["tags"] == {"team": "billing"}

    # A CSR left pending, then dropped; the contacts and issuers of the vault.
    unknown = json.loads(policy.read_text())
    unknown["issuerParameters"]["name"] = "Unknown"
    policy.write_text(json.dumps(unknown))
    az("keyvault", "certificate", "create", *v, "-n", "pending", "--policy", f"@{policy}")
    assert az("keyvault", "certificate", "pending", "show", *v, "-n", "pending")["status"] == "inProgress"
    assert az("keyvault", "certificate", "pending", "delete", *v, "-n", "pending")["status"] in ("inProgress", "cancelled")
    # Another request, signed by a CA of the test's own and merged.
    csr = az("keyvault", "certificate", "create", *v, "-n", "merged", "--policy", f"@{policy}")["csr"]
    chain = tmp_path / "chain.pem"
    chain.write_bytes(sign_request(csr))
    merged = az("keyvault", "certificate", "pending", "merge", *v, "-n", "merged", "--file", str(chain))
    assert merged["name"] == "merged" and merged["x509ThumbprintHex"]
    az("keyvault", "certificate", "contact", "add", *v, "--email", "ops@contoso.com", "--name", "Ops")
    assert [c["emailAddress"] for c in az("keyvault", "certificate", "contact", "list", *v)["contactList"]] == [
        "ops@contoso.com"
    ]
    az("keyvault", "certificate", "contact", "delete", *v, "--email", "ops@contoso.com")
    az("keyvault", "certificate", "issuer", "create", *v, "--issuer-name", "corp", "--provider-name", "Strongroom")
    assert az("keyvault", "certificate", "issuer", "show", *v, "--issuer-name", "corp")["provider"] == "Strongroom"
    az("keyvault", "certificate", "issuer", "update", *v, "--issuer-name", "corp", "--account-id", "billing")
    az("keyvault", "certificate", "issuer", "admin", "add", *v, "--issuer-name", "corp", "--email", "pki@contoso.com")
    admins = az("keyvault", "certificate", "issuer", "admin", "list", *v, "--issuer-name", "corp")
    assert [a["emailAddress"] for a in admins] == ["pki@contoso.com"]
    az("keyvault", "certificate", "issuer", "admin", "delete", *v, "--issuer-name", "corp", "--email", "pki@contoso.com")
    assert "corp" in {i["id"].rsplit("/", 1)[1] for i in az("keyvault", "certificate", "issuer", "list", *v)}
    az("keyvault", "certificate", "issuer", "delete", *v, "--issuer-name", "corp")

    backup = tmp_path / "certificate.backup"
    az("keyvault", "certificate", "backup", *v, "-n", "imported-cert", "--file", str(backup))
    deleted = az("keyvault", "certificate", "delete", *v, "-n", "imported-cert")
    assert deleted["recoveryId"].endswith("/deletedcertificates/imported-cert")
    assert az("keyvault", "certificate", "show-deleted", *v, "-n", "imported-cert")["name"] == "imported-cert"
    assert "imported-cert" in {c["name"] for c in az("keyvault", "certificate", "list-deleted", *v)}
    az("keyvault", "certificate", "recover", *v, "-n", "imported-cert")
    az("keyvault", "certificate", "delete", *v, "-n", "imported-cert")
    az("keyvault", "certificate", "purge", *v, "-n", "imported-cert")
    assert az("keyvault", "certificate", "restore", *v, "--file", str(backup))["name"] == "imported-cert"


def test_resource_groups_and_vaults(server, az, subscription):
    location = az("account", "list-locations")[0]["name"]
    group = az("group", "create", "-n", "team-rg", "-l", location, "--tags", "team=payments")
    assert group["id"] == f"/subscriptions/{subscription}/resourceGroups/team-rg" and group["location"] == location
    assert az("group", "exists", "-n", "team-rg") is True
    assert az("group", "exists", "-n", "no-such-rg") is False
    assert "team-rg" in {g["name"] for g in az("group", "list")}
    assert az("group", "show", "-n", "team-rg")["tags"] == {"team": "payments"}

    name = f"payments-{uuid.uuid4().hex[:8]}"
    vault = az("keyvault", "create", "-n", name, "-g", "team-rg", "--sku", "premium", "--retention-days", "7")
    assert vault["name"] == name and vault["properties"]["sku"]["name"] == "premium"
    assert vault["properties"]["vaultUri"].rstrip("/") == vault_url(server, name)
    # Without -g, as a user who does not remember the group types it.
    assert name in {v["name"] for v in az("keyvault", "list")}
    assert az("keyvault", "show", "-n", name)["id"] == vault["id"]
    assert vault["properties"]["softDeleteRetentionInDays"] == 7
    updated = az("keyvault", "update", "-n", name, "--public-network-access", "Disabled")
    assert updated["properties"]["publicNetworkAccess"] == "Disabled"
    updated = az("keyvault", "update", "-n", name, "--public-network-access", "Enabled")
    assert updated["properties"]["publicNetworkAccess"] == "Enabled"

    az("keyvault", "network-rule", "add", "-n", name, "--ip-address", "203.0.113.0/24")
    rules = az("keyvault", "network-rule", "list", "-n", name)
    assert [r["value"] for r in rules["ipRules"]] == ["203.0.113.0/24"]
    az("keyvault", "network-rule", "remove", "-n", name, "--ip-address", "203.0.113.0/24")
    assert az("keyvault", "network-rule", "list", "-n", name)["ipRules"] == []

    az("keyvault", "delete", "-n", name)
    assert name not in {v["name"] for v in az("keyvault", "list")}
    assert name in {v["name"] for v in az("keyvault", "list-deleted", "--resource-type", "vault")}
    assert az("keyvault", "show-deleted", "-n", name)["name"] == name
    az("keyvault", "recover", "-n", name)
    assert az("keyvault", "show", "-n", name)["name"] == name
    az("keyvault", "delete", "-n", name)
    az("keyvault", "purge", "-n", name)
    assert name not in {v["name"] for v in az("keyvault", "list-deleted", "--resource-type", "vault")}

    az("group", "delete", "-n", "team-rg", "--yes")
    assert az("group", "exists", "-n", "team-rg") is False


def test_vault_commands_that_reach_managed_hsms(az):
    # Without --resource-type the CLI lists deleted Managed HSMs with the deleted vaults; its check-name asks
    # about Managed HSM names (checkMhsmNameAvailability), which here share one namespace with the vaults'.
    assert isinstance(az("keyvault", "list-deleted"), list)
    assert az("keyvault", "check-name", "-n", f"hsm-{uuid.uuid4().hex[:8]}")["nameAvailable"] is True
    assert az("keyvault", "check-name", "-n", "billing")["nameAvailable"] is False


def test_managed_hsm_create_show_delete(server, az, tmp_path):
    name = f"hsm-{uuid.uuid4().hex[:8]}"
    admin = az("ad", "sp", "show", "--id", DEPLOYER)["id"]
    location = az("account", "list-locations")[0]["name"]
    hsm = az(
        "keyvault", "create", "--hsm-name", name, "-g", "strongroom", "--administrators", admin, "-l", location,
        "--retention-days", "7",
    )
    assert hsm["type"] == "Microsoft.KeyVault/managedHSMs" and hsm["name"] == name
    assert hsm["properties"]["hsmUri"] == f"https://{name}.managedhsm.localhost:{server.port}/"
    assert hsm["properties"]["initialAdminObjectIds"] == [admin]
    assert hsm["properties"]["softDeleteRetentionInDays"] == 7
    assert az("keyvault", "show", "--hsm-name", name, "-g", "strongroom")["id"] == hsm["id"]
    assert name in {h["name"] for h in az("keyvault", "list", "--resource-type", "hsm")}
    assert name not in {v["name"] for v in az("keyvault", "list", "--resource-type", "vault")}
    assert az("keyvault", "check-name", "-n", name)["nameAvailable"] is False

    # New, it serves only its security domain, until the administrator downloads it (Microsoft's quickstart).
    assert hsm["properties"]["securityDomainProperties"]["activationStatus"] == "NotActivated"
    role_assignments = (
        "rest", "--method", "get", "--resource", f"https://managedhsm.localhost:{server.port}",
        "--url", f"{hsm['properties']['hsmUri']}providers/Microsoft.Authorization/roleAssignments?api-version=7.4",
    )
    assert "not activated" in az.fails(*role_assignments)
    certificates = [str(wrapping_key(tmp_path, f"operator{i}").with_suffix(".cer")) for i in range(3)]
    az("keyvault", "security-domain", "download", "--hsm-name", name, "--sd-wrapping-keys", *certificates,
       "--sd-quorum", "2", "--security-domain-file", str(tmp_path / "sd.json"))
    shown = az("keyvault", "show", "--hsm-name", name, "-g", "strongroom")
    assert shown["properties"]["securityDomainProperties"]["activationStatus"] == "Active"

    # The initial administrator holds Managed HSM Administrator at / on the HSM's own data plane.
    answer = az(*role_assignments)
    held = {(a["properties"]["principalId"], a["properties"]["scope"]) for a in answer["value"]}
    assert held == {(admin, "/")}

    az("keyvault", "delete", "--hsm-name", name, "-g", "strongroom")
    assert name not in {h["name"] for h in az("keyvault", "list", "--resource-type", "hsm")}
    assert name in {h["name"] for h in az("keyvault", "list-deleted", "--resource-type", "hsm")}
    az("keyvault", "purge", "--hsm-name", name, "-l", location)
    assert name not in {h["name"] for h in az("keyvault", "list-deleted", "--resource-type", "hsm")}


def test_managed_hsm_keys_and_local_roles(server, az):
    # The CLI builds the HSM's URL from the cloud's mhsmDns suffix, which the metadata endpoint gave it.
    hsm = ["--hsm-name", "clihsm"]
    key = az("keyvault", "key", "create", *hsm, "-n", "cli-rsa")
    assert key["key"]["kty"] == "RSA-HSM", "every key of a Managed HSM is a hardware key"
    assert key["key"]["kid"].startswith(f"https://clihsm.managedhsm.localhost:{server.port}/keys/cli-rsa/")
    aes = az("keyvault", "key", "create", *hsm, "-n", "cli-aes", "--kty", "oct-HSM", "--size", "256")
    assert aes["key"]["kty"] == "oct-HSM"
    assert az("keyvault", "key", "show", *hsm, "-n", "cli-rsa")["key"]["kid"] == key["key"]["kid"]

    roles = {r["roleName"] for r in az("keyvault", "role", "definition", "list", *hsm)}
    assert {"Managed HSM Administrator", "Managed HSM Crypto User", "Managed HSM Crypto Auditor"} <= roles
    web_api = az("ad", "sp", "show", "--id", WEB_API)["id"]
    created = az("keyvault", "role", "assignment", "create", *hsm, "--role", "Managed HSM Crypto Auditor",
                 "--assignee-object-id", web_api, "--scope", "/keys")
    assert created["roleName"] == "Managed HSM Crypto Auditor" and created["scope"] == "/keys"
    listed = az("keyvault", "role", "assignment", "list", *hsm, "--scope", "/keys")
    assert any(a["principalId"] == web_api and a["name"] == created["name"] for a in listed)
    az("keyvault", "role", "assignment", "delete", *hsm, "--name", created["name"], "--scope", "/keys")
    listed = az("keyvault", "role", "assignment", "list", *hsm, "--scope", "/keys")
    assert not any(a["name"] == created["name"] for a in listed)

    setting = "AllowKeyManagementOperationsThroughARM"
    assert any(s["name"] == setting for s in az("keyvault", "setting", "list", *hsm))
    az("keyvault", "setting", "update", *hsm, "--name", setting, "--value", "true")
    assert az("keyvault", "setting", "show", *hsm, "--name", setting)["value"] == "true"


def server_assignments(server, vault):
    """The role assignments made on the vault itself as the server sees them, through its own admin command."""
    listed = json.loads(strongroom_cli(server, "role", "assignment", "list", "--scope", f"vaults/{vault}"))
    return [a for a in listed if a["properties"]["scope"].lower().endswith(f"/vaults/{vault}")]


def test_role_assignments(server, az, subscription):
    scope = az("keyvault", "show", "-n", "billing")["id"]
    assert scope.startswith(f"/subscriptions/{subscription}/resourceGroups/")
    web_api = az("ad", "sp", "show", "--id", WEB_API)
    alice = az("ad", "user", "show", "--id", "alice@contoso")
    ops = az("ad", "group", "show", "--group", "ops")
    created = [
        az("role", "assignment", "create", "--assignee", WEB_API, "--role", "Key Vault Secrets User", "--scope", scope),
        az("role", "assignment", "create", "--assignee", "alice@contoso", "--role", "Key Vault Reader", "--scope", scope),
        az("role", "assignment", "create", "--assignee-object-id", ops["id"], "--assignee-principal-type", "Group",
           "--role", "Key Vault Secrets Officer", "--scope", scope),
    ]
    assert [a["principalId"] for a in created] == [web_api["id"], alice["id"], ops["id"]]

    listed = az("role", "assignment", "list", "--scope", scope)
    mine = {(a["principalId"], a["roleDefinitionName"]) for a in listed}
    assert {(web_api["id"], "Key Vault Secrets User"), (alice["id"], "Key Vault Reader"),
            (ops["id"], "Key Vault Secrets Officer")} <= mine
    by_assignee = az("role", "assignment", "list", "--assignee", WEB_API, "--scope", scope)
    assert [a["principalId"] for a in by_assignee] == [web_api["id"]]

    # The server's own view: each assignment landed on exactly that principal.
    seen = {(a["properties"]["principalId"], a["properties"]["roleDefinitionId"].rsplit("/", 1)[1])
            for a in server_assignments(server, "billing")}
    for assignment in created:
        role = assignment["roleDefinitionId"].rsplit("/", 1)[1]
        assert (assignment["principalId"], role) in seen

    az("role", "assignment", "delete", "--assignee", WEB_API, "--role", "Key Vault Secrets User", "--scope", scope)
    az("role", "assignment", "delete", "--ids", created[1]["id"], created[2]["id"])
    remaining = {a["properties"]["principalId"] for a in server_assignments(server, "billing")}
    assert not remaining & {web_api["id"], alice["id"], ops["id"]}


def test_directory(server, az):
    app = az("ad", "app", "create", "--display-name", "invoicing")
    assert app["appId"] and app["displayName"] == "invoicing"
    assert az("ad", "app", "show", "--id", app["appId"])["id"] == app["id"]
    assert [a["appId"] for a in az("ad", "app", "list", "--display-name", "invoicing")] == [app["appId"]]
    sp = az("ad", "sp", "create", "--id", app["appId"])
    assert sp["appId"] == app["appId"]
    assert az("ad", "sp", "show", "--id", app["appId"])["id"] == sp["id"]
    assert az("ad", "sp", "show", "--id", sp["id"])["appId"] == app["appId"]
    assert [s["id"] for s in az("ad", "sp", "list", "--display-name", "invoicing")] == [sp["id"]]
    user = az("ad", "user", "create", "--display-name", "Dave", "--user-principal-name", "dave@contoso",
              "--password", "Another-Horse-8")
    assert az("ad", "user", "show", "--id", "dave@contoso")["id"] == user["id"]
    assert "dave@contoso" in {u["userPrincipalName"] for u in az("ad", "user", "list")}
    group = az("ad", "group", "create", "--display-name", "payments", "--mail-nickname", "payments")
    assert az("ad", "group", "show", "--group", group["id"])["displayName"] == "payments"
    assert "payments" in {g["displayName"] for g in az("ad", "group", "list")}
    az("ad", "group", "member", "add", "--group", "payments", "--member-id", user["id"])
    assert [m["id"] for m in az("ad", "group", "member", "list", "--group", "payments")] == [user["id"]]
    az("ad", "group", "member", "remove", "--group", "payments", "--member-id", user["id"])
    az("ad", "group", "delete", "--group", group["id"])
    az("ad", "user", "delete", "--id", user["id"])
    assert "dave@contoso" not in {u["userPrincipalName"] for u in az("ad", "user", "list")}

    az("ad", "app", "delete", "--id", app["appId"])
    assert az("ad", "app", "list", "--display-name", "invoicing") == []
    assert az("ad", "sp", "list", "--display-name", "invoicing") == []


def test_group_member_check(az):
    group = az("ad", "group", "show", "--group", "ops")
    alice = az("ad", "user", "show", "--id", "alice@contoso")
    check = ("ad", "group", "member", "check", "--group", group["id"], "--member-id", alice["id"])
    assert az(*check)["value"] is False
    az("ad", "group", "member", "add", "--group", group["id"], "--member-id", alice["id"])
    try:
        assert az(*check)["value"] is True
    finally:
        az("ad", "group", "member", "remove", "--group", group["id"], "--member-id", alice["id"])
    assert az(*check)["value"] is False


def test_service_principal_of_an_own_application_goes_with_the_application(az):
    # A known difference (docs/compatibility.md): here an application and its service principal in its own
    # tenant are one object, so deleting only the service principal is refused in words, and deleting the
    # application removes both.
    app = az("ad", "app", "create", "--display-name", "reporting")
    sp = az("ad", "sp", "create", "--id", app["appId"])
    assert "delete the application" in az.fails("ad", "sp", "delete", "--id", sp["id"])
    assert az("ad", "sp", "show", "--id", sp["id"])["appId"] == app["appId"]
    az("ad", "app", "delete", "--id", app["appId"])
    assert az("ad", "sp", "list", "--display-name", "reporting") == []


def test_user_sign_in_with_password_and_logout(server, registered, tmp_path):
    if not AS_ROOT:
        pytest.skip("MSAL's password flow asks port 443 of the authority host, which only root may bind here")
    az = registered.copy(tmp_path / "alice")
    az("login", "-u", "alice@contoso", "-p", PASSWORD)
    account = az("account", "show")
    assert account["tenantId"] == CONTOSO and account["user"] == {"name": "alice@contoso", "type": "user"}
    assert az("keyvault", "secret", "show", "--vault-name", "billing", "-n", "seeded")["value"] == "seeded-value-42"
    az("logout")
    assert az("account", "list") == []
    assert "az login" in az.fails("account", "show")


def test_user_sign_in_with_device_code(server, registered, tmp_path):
    az = registered.copy(tmp_path / "alice-device")
    login = subprocess.Popen(
        [AZ, "login", "--use-device-code"], env=az.env(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    )
    try:
        # What a user does with the message: open the page, type the code and their credentials.
        message = ""
        for line in login.stderr:
            message += line
            found = re.search(r"open the page (\S+) and enter the code (\S+)", line)
            if found:
                break
        assert found, message
        page_url, code = found[1], found[2]
        # The page is named by the login host, which this process reaches on 127.0.0.1. (The CA goes with each
        # request: a REQUESTS_CA_BUNDLE in the environment would override a session's.)
        browser = requests.Session()
        page = browser.get(page_url, verify=server.ca, timeout=10)
        form = {**hidden_fields(page.text), "user_code": code, "username": "alice@contoso", "password": PASSWORD}
        assert browser.post(page_url, data=form, verify=server.ca, timeout=10).status_code == 200
        out, err = login.communicate(timeout=120)
        assert login.returncode == 0, message + err
    finally:
        login.kill()
        login.wait()
    assert json.loads(out)[0]["tenantId"] == CONTOSO
    assert az("account", "show")["user"] == {"name": "alice@contoso", "type": "user"}
    az("logout")
    assert az("account", "list") == []


def test_azure_cli_credential_after_az_login(server, az, monkeypatch):
    """Code that says AzureCliCredential() (the credential DefaultAzureCredential falls back to on a developer's
    machine) reads a secret with the CLI's sign-in: the SDK runs `az account get-access-token` from the PATH."""
    from azure.identity import AzureCliCredential
    from azure.keyvault.secrets import SecretClient

    env = az.env()
    for name in ["AZURE_CONFIG_DIR", "AZURE_CORE_COLLECT_TELEMETRY", "REQUESTS_CA_BUNDLE", "PYTHONPATH",
                 "STRONGROOM_AZ_LOOPBACK"]:
        monkeypatch.setenv(name, env[name])
    monkeypatch.setenv("PATH", f"{pathlib.Path(AZ).parent}{os.pathsep}{os.environ['PATH']}")
    client = SecretClient(vault_url(server, "billing"), AzureCliCredential(process_timeout=60))
    assert client.get_secret("seeded").value == "seeded-value-42"


def test_event_subscription_at_a_vaults_scope(server, az, subscription):
    from test_events_sdk import Webhook

    webhook = Webhook(server.data_dir)
    try:
        vault = f"/subscriptions/{subscription}/resourceGroups/strongroom/providers/Microsoft.KeyVault/vaults/billing"
        created = az(
            "eventgrid", "event-subscription", "create", "--source-resource-id", vault, "--name", "cli-hook",
            "--endpoint", webhook.url("/grid"), "--included-event-types", "Microsoft.KeyVault.SecretNewVersionCreated",
        )
        assert created["provisioningState"] == "Succeeded" and created["name"] == "cli-hook"
        listed = az("eventgrid", "event-subscription", "list", "--source-resource-id", vault)
        assert [s["name"] for s in listed] == ["cli-hook"]
        az("keyvault", "secret", "set", "--vault-name", "billing", "-n", "from-cli", "--value", "v")
        webhook.wait_for("/grid", {"Microsoft.KeyVault.SecretNewVersionCreated"})
        az("eventgrid", "event-subscription", "delete", "--source-resource-id", vault, "--name", "cli-hook")
        assert az("eventgrid", "event-subscription", "list", "--source-resource-id", vault) == []
    finally:
        webhook.close()


def test_security_domain_download_activates_and_upload_restores_with_a_quorum(az, tmp_path):
    """`download` with three wrapping certificates and a quorum of two writes the file the CLI's own restore
    reads; `init-recovery` fetches the HSM's transfer key; `upload` opens two shares with their private keys and
    sends the blob. A never-activated HSM takes another's security domain the same way (disaster recovery), and
    then opens the first one's keys; an HSM activated with its own refuses another's, and opens none of them."""
    keys = [wrapping_key(tmp_path, f"operator{i}") for i in range(3)]
    certificates = [str(k.with_suffix(".cer")) for k in keys]
    sd_file = tmp_path / "sd.json"

    def download(hsm, file):
        return az("keyvault", "security-domain", "download", "--hsm-name", hsm, "--sd-wrapping-keys", *certificates,
                  "--sd-quorum", "2", "--security-domain-file", str(file))

    def upload(hsm, *wrapping):
        return az("keyvault", "security-domain", "upload", "--hsm-name", hsm, "--sd-file", str(sd_file),
                  "--sd-exchange-key", str(exchange_of(az, tmp_path, hsm)), "--sd-wrapping-keys", *map(str, wrapping))

    # Until its security domain is downloaded, the HSM serves nothing else.
    assert "not activated" in az.fails("keyvault", "key", "create", "--hsm-name", "contoso-hsm", "-n", "early")
    assert download("contoso-hsm", sd_file)["status"] == "Success"
    az("keyvault", "key", "create", "--hsm-name", "contoso-hsm", "-n", "carried", "--kty", "RSA-HSM")
    key_backup = tmp_path / "carried.backup"
    az("keyvault", "key", "backup", "--hsm-name", "contoso-hsm", "-n", "carried", "--file", str(key_backup))
    domain = json.loads(sd_file.read_text())
    assert domain["SharedKeys"]["required"] == 2 and len(domain["SharedKeys"]["enc_shares"]) == 3
    assert upload("contoso-hsm", keys[0], keys[2])["status"] == "Success"

    # The spare HSM, never activated, takes the first one's security domain from two other operators.
    assert upload("spare-hsm", keys[2], keys[1])["status"] == "Success"
    assert az("keyvault", "security-domain", "wait", "--hsm-name", "spare-hsm")["status"] == "Success"
    restored = az("keyvault", "key", "restore", "--hsm-name", "spare-hsm", "--file", str(key_backup))
    assert restored["key"]["kid"].split("/keys/")[1].startswith("carried/")

    # An HSM activated with a security domain of its own refuses another's.
    assert download("other-hsm", tmp_path / "other.json")["status"] == "Success"
    assert "another security domain" in az.fails(
        "keyvault", "security-domain", "upload", "--hsm-name", "other-hsm", "--sd-file", str(sd_file),
        "--sd-exchange-key", str(exchange_of(az, tmp_path, "other-hsm")),
        "--sd-wrapping-keys", str(keys[0]), str(keys[1]))
    assert "another security domain" in az.fails(
        "keyvault", "key", "restore", "--hsm-name", "other-hsm", "--file", str(key_backup))

    # One operator is not a quorum: the CLI cannot open the security domain, and sends nothing.
    assert "should not less than 2" in az.fails(
        "keyvault", "security-domain", "upload", "--hsm-name", "spare-hsm", "--sd-file", str(sd_file),
        "--sd-exchange-key", str(exchange_of(az, tmp_path, "spare-hsm")), "--sd-wrapping-keys", str(keys[0]))


def exchange_of(az, folder, hsm):
    """The HSM's transfer key as `init-recovery` saves it."""
    exchange = folder / f"exchange-{uuid.uuid4()}.pem"
    az("keyvault", "security-domain", "init-recovery", "--hsm-name", hsm, "--sd-exchange-key", str(exchange))
    return exchange
