"""Starts the real `strongroom` binary for the official-SDK conformance tests.

Servers listen on 127.0.0.1 port 0 (the kernel picks a free port; the server prints the one it got), keep their
data in a temporary directory, and are stopped when their fixture ends, so no process outlives the run.
"""

import base64
import contextlib
import json
import os
import pathlib
import queue
import re
import shutil
import socket
import subprocess
import tempfile
import textwrap
import threading
import time
import urllib.parse
import uuid

import pytest

BINARY = os.environ.get("STRONGROOM_BIN", "strongroom")
READY = "strongroom listening on https://"
IMDS_READY = "strongroom managed-identity endpoint on http://"
METRICS_READY = "strongroom metrics on http://"

# glibc does not resolve *.localhost; users add a hosts-file line (strongroom dev prints it). The test process
# maps those names itself. The SDKs are not touched: TLS still verifies the real host names.
# Tests that need a name to reach another loopback address (a private endpoint) put it in HOST_OVERRIDES.
# Tests of several nodes (one address each, one port for all, as behind a load balancer) pick the node a thread's
# new connections reach with `on_node`.
_system_getaddrinfo = socket.getaddrinfo
HOST_OVERRIDES = {}
_NODE = threading.local()


def _getaddrinfo(host, *args, **kwargs):
    node = getattr(_NODE, "address", None)
    if isinstance(host, str) and node and (host == "localhost" or host.endswith(".localhost")):
        host = node
    elif isinstance(host, str) and host.endswith(".localhost"):
        host = HOST_OVERRIDES.get(host, "127.0.0.1")
    return _system_getaddrinfo(host, *args, **kwargs)


@contextlib.contextmanager
def on_node(address):
    """New connections made by this thread inside the block go to the node at `address`."""
    _NODE.address = address
    try:
        yield
    finally:
        _NODE.address = None


socket.getaddrinfo = _getaddrinfo


class Server:
    """One `strongroom` process."""

    def __init__(self, args, data_dir):
        self.args = args
        self.data_dir = pathlib.Path(data_dir)
        self.process = None
        self.port = None
        self.imds_port = None
        self.metrics_url = None
        self.output = []  # what it printed up to the line that says it listens (the dev banner)
        self.later_output = None  # a queue of the lines it prints after that, then None when it exits

    def start(self, timeout=60):
        log = open(self.data_dir / "server.log", "ab")
        self.process = subprocess.Popen(
            [BINARY, *self.args], stdout=subprocess.PIPE, stderr=log, stdin=subprocess.DEVNULL, text=True
        )
        lines = queue.Queue()
        # A reader thread, because select() cannot see lines already in the pipe's read buffer.
        threading.Thread(target=_pump, args=(self.process.stdout, lines), daemon=True).start()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = lines.get(timeout=0.5)
            except queue.Empty:
                if self.process.poll() is not None:
                    break
                continue
            if line is None:
                break
            self.output.append(line)
            if line.startswith(IMDS_READY):
                self.imds_port = int(line.strip().rsplit(":", 1)[1])
            if line.startswith(METRICS_READY):
                self.metrics_url = line.split()[3]
            if line.startswith(READY):
                self.port = int(line.strip().rsplit(":", 1)[1])
                self.later_output = lines
                return self
        self.stop()
        raise RuntimeError(f"strongroom did not start; see {self.data_dir / 'server.log'}")

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    @property
    def ca(self):
        return str(self.data_dir / "ca.pem")


def _pump(stream, lines):
    for line in stream:
        lines.put(line)
    lines.put(None)


def read_env_file(path):
    values = {}
    for line in pathlib.Path(path).read_text().splitlines():
        name, _, value = line.removeprefix("export ").partition("=")
        values[name] = value.strip("'")
    return values


def start_dev(data_dir):
    server = Server(["dev", "--listen", "127.0.0.1:0", "--data-dir", str(data_dir)], data_dir).start()
    server.env = read_env_file(pathlib.Path(data_dir) / "dev.env")
    return server


@pytest.fixture(scope="session")
def dev_server():
    with tempfile.TemporaryDirectory() as data_dir:
        server = start_dev(data_dir)
        try:
            yield server
        finally:
            server.stop()


@pytest.fixture
def dev_env(dev_server, monkeypatch):
    """The shell environment `source dev.env` gives a user."""
    for name, value in dev_server.env.items():
        monkeypatch.setenv(name, value)
    return dev_server.env


CONTOSO = "0b1f6c0e-6c3b-4a55-9a57-2f8a1d2b7e10"
FABRIKAM = "6a1d27a3-1b8c-4c55-8d1e-3a7c2f9b5e20"
APPS = {
    "admin": "5b7a1c2d-0000-4000-8000-00000000a001",
    "secrets-user": "5b7a1c2d-0000-4000-8000-00000000a002",
    "reader": "5b7a1c2d-0000-4000-8000-00000000a003",
    "nobody": "5b7a1c2d-0000-4000-8000-00000000a004",
    "outsider": "5b7a1c2d-0000-4000-8000-00000000a005",
    "scoped": "5b7a1c2d-0000-4000-8000-00000000a009",
    "crypto-only": "5b7a1c2d-0000-4000-8000-00000000a00a",
}


# MSAL's user-realm lookup (UsernamePasswordCredential) always goes to port 443 of the authority host, so the
# server also listens there when the tests may bind it.
USER_REALM_PORT_AVAILABLE = os.geteuid() == 0
LISTEN = '["127.0.0.1:0", "127.0.0.1:443"]' if USER_REALM_PORT_AVAILABLE else '"127.0.0.1:0"'
# One free port only: for a test's own server beside the shared one, which may hold 443.
ONE_PORT = '"127.0.0.1:0"'
CLI_APP = "5b7a1c2d-0000-4000-8000-00000000a008"
USER_PASSWORD = "Correct-Horse-7"

# The private endpoint of the vault `private` listens here, on the main listener's port.
PRIVATE_ENDPOINT = "127.0.0.9"


# Managed identities: the workload `web-01` (system-assigned; it is this test process, calling from 127.0.0.1)
# and `shared-reader` (user-assigned to web-01).
MI_WEB = "7c1d2e3f-0000-4000-8000-00000000e001"
MI_SHARED = "7c1d2e3f-0000-4000-8000-00000000e002"
MI_WEB_HEADER = "web-01-identity-header-0123456789"


def app_secret(app):
    return f"{app}-secret-0123456789"


# Configuration the Rust integration tests start from too (tests/fixtures), so that both suites test one setup.
FIXTURES = pathlib.Path(__file__).resolve().parent.parent / "fixtures"


def server_section(data_dir, listen, certificate_issuance_seconds=0):
    """The shared `[server]` section (tests/fixtures/server.toml) for `data_dir` and `listen` (a TOML value). Its
    certificates are issued before create answers (`certificate_issuance_seconds`, 0) unless a test of the
    issuance window gives it time."""
    text = (FIXTURES / "server.toml").read_text()
    text = text.replace("{data_dir}", str(data_dir)).replace("{listen}", listen)
    return text + f"certificate_issuance_seconds = {certificate_issuance_seconds}\n"


# Servers of the tests of everything else run without Key Vault's service limits, as `strongroom dev` does: a
# configuration ends with this unless it tests the limits (test_limits_sdk.py).
LIMITS_OFF = '\n[service_limits]\npreset = "off"\n'


def controlled_config(data_dir):
    """A server of a test's own with test controls on (moving its clock must not move another test's clock), the
    standard tenants, and the admin application as the tenant's Owner, as a team's own automation would run it."""
    return server_section(data_dir, ONE_PORT) + "test_controls = true\n" + standard_tenants() + textwrap.dedent(
        """
        [[tenant.role_assignment]]
        principal = "admin"
        role = "Owner"
        """
    ) + LIMITS_OFF


def standard_tenants():
    """The shared tenants (tests/fixtures/standard-tenants.toml) with the ids the SDK clients are given ahead: the
    fixture names tenants and applications only, so `id` and `client_id` go in after each name."""
    tenant_ids = {"contoso": CONTOSO, "fabrikam": FABRIKAM}
    lines, table = [], None
    for line in (FIXTURES / "standard-tenants.toml").read_text().splitlines():
        lines.append(line)
        if line.startswith("["):
            table = line
        named = re.fullmatch(r'name = "(.+)"', line)
        if named and table == "[[tenant]]":
            lines.append(f'id = "{tenant_ids[named[1]]}"')
        elif named and table == "[[tenant.app]]":
            lines.append(f'client_id = "{APPS[named[1]]}"')
    return "\n".join(lines) + "\n"


CERT_APP = "5b7a1c2d-0000-4000-8000-00000000a006"
WORKLOAD_APP = "5b7a1c2d-0000-4000-8000-00000000a007"
FEDERATED_ISSUER = "https://issuer.strongroom.test"
FEDERATED_SUBJECT = "system:serviceaccount:prod:billing"


class Material:
    """Keys and certificates the tests sign with, written beside the configuration that registers them."""

    def __init__(self, folder):
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import rsa
        from cryptography.hazmat.primitives.serialization import pkcs12
        from cryptography.x509.oid import NameOID
        import datetime

        folder = pathlib.Path(folder)
        self.folder = folder

        def certificate(name):
            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
            now = datetime.datetime.now(datetime.timezone.utc)
            cert = (
                x509.CertificateBuilder()
                .subject_name(subject)
                .issuer_name(subject)
                .public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(days=1))
                .not_valid_after(now + datetime.timedelta(days=30))
                .sign(key, hashes.SHA256())
            )
            key_pem = key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
            cert_pem = cert.public_bytes(serialization.Encoding.PEM)
            (folder / f"{name}.crt").write_bytes(cert_pem)
            (folder / f"{name}.pem").write_bytes(key_pem + cert_pem)
            pfx = pkcs12.serialize_key_and_certificates(
                name.encode(), key, cert, None, serialization.BestAvailableEncryption(b"pfx-password")
            )
            (folder / f"{name}.pfx").write_bytes(pfx)
            return key, cert

        self.key, self.cert = certificate("cert-app")
        self.stranger_key, self.stranger_cert = certificate("stranger")
        self.issuer_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        numbers = self.issuer_key.public_key().public_numbers()

        def b64url(number):
            raw = number.to_bytes((number.bit_length() + 7) // 8, "big")
            return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

        jwks = {"keys": [{"kty": "RSA", "kid": "issuer-key-1", "use": "sig", "n": b64url(numbers.n), "e": b64url(numbers.e)}]}
        (folder / "issuer-jwks.json").write_text(json.dumps(jwks))

    def federated_token(self, subject=FEDERATED_SUBJECT, audience="api://AzureADTokenExchange", lifetime=600):
        import jwt

        now = int(time.time())
        claims = {"iss": FEDERATED_ISSUER, "sub": subject, "aud": audience, "iat": now, "nbf": now, "exp": now + lifetime}
        return jwt.encode(claims, self.issuer_key, algorithm="RS256", headers={"kid": "issuer-key-1"})


@pytest.fixture(scope="session")
def configured_server():
    """`strongroom serve` with two tenants and one application per role."""
    with tempfile.TemporaryDirectory() as data_dir:
        material = Material(data_dir)
        apps = "\n".join(
            f'[[tenant.app]]\nname = "{app}"\nclient_id = "{APPS[app]}"\nsecrets = ["{app_secret(app)}"]\n'
            for app in ["scoped", "crypto-only"]
        )
        # The shared setup, then what the SDK tests add: to [server], to contoso (the fixture's last tenant) and
        # to its vault billing (the last vault), then contoso's other vaults.
        config = server_section(data_dir, LISTEN) + textwrap.dedent(
            """
            imds_listen = "127.0.0.1:0"
            metrics_listen = "127.0.0.1:0"
            # The attestation authority of the key-release tests runs on this machine.
            allowed_private_authorities = ["127.0.0.1", "localhost"]
            """
        ) + standard_tenants() + textwrap.dedent(
            f"""
            [[tenant.vault.role_assignment]]
            principal = "web-01"
            role = "Key Vault Secrets User"

            [[tenant.vault.role_assignment]]
            principal = "cert-app"
            role = "Key Vault Secrets User"

            [[tenant.vault.role_assignment]]
            principal = "staff"
            role = "Key Vault Secrets User"

            [[tenant.vault.role_assignment]]
            principal = "workload"
            role = "Key Vault Secrets User"

            [[tenant.vault.role_assignment]]
            principal = "scoped"
            role = "Key Vault Secrets User"
            scope = "secrets/db-password"

            # May use keys but not read them: CryptographyClient then does every operation on the server.
            [[tenant.vault.role_assignment]]
            principal = "crypto-only"
            role = "Remote Crypto"

            [[tenant.vault.secret]]
            name = "db-password"
            value = "seeded-value-42"

            [[tenant.vault.secret]]
            name = "neighbour"
            value = "not-for-scoped"

            [tenant.certificate_authority]
            domains = ["contoso.com"]

            """
        ) + apps + textwrap.dedent(
            f"""
            [[tenant.app]]
            name = "cert-app"
            client_id = "{CERT_APP}"
            certificates = ["cert-app.crt"]

            [[tenant.app]]
            name = "workload"
            client_id = "{WORKLOAD_APP}"
            federated = [
              {{ issuer = "{FEDERATED_ISSUER}", subject = "{FEDERATED_SUBJECT}", audience = "api://AzureADTokenExchange", jwks = "issuer-jwks.json" }},
            ]

            [[tenant.app]]
            name = "cli-app"
            client_id = "{CLI_APP}"

            [[tenant.role_definition]]
            name = "Remote Crypto"
            data_actions = ["Microsoft.KeyVault/vaults/keys/*/action"]
            not_data_actions = ["Microsoft.KeyVault/vaults/keys/release/action"]

            # The admin application also runs the tenant: it changes access and the directory (no data rights).
            [[tenant.role_assignment]]
            principal = "admin"
            role = "Owner"

            [[tenant.role_assignment]]
            principal = "admin"
            role = "Global Administrator"

            [[tenant.group]]
            name = "ops"
            member_of = ["staff"]

            [[tenant.group]]
            name = "staff"

            [[tenant.user]]
            name = "alice"
            password = "{USER_PASSWORD}"
            groups = ["ops"]

            [[tenant.user]]
            name = "bob"
            password = "{USER_PASSWORD}"
            enabled = false

            [[tenant.user]]
            name = "carol"
            password = "{USER_PASSWORD}"

            [[tenant.managed_identity]]
            name = "web-01"
            kind = "system"
            client_id = "{MI_WEB}"
            identity_header = "{MI_WEB_HEADER}"
            source_addresses = ["127.0.0.1"]

            [[tenant.managed_identity]]
            name = "shared-reader"
            kind = "user"
            client_id = "{MI_SHARED}"
            assigned_to = ["web-01"]

            [[tenant.vault]]
            name = "shared"

            [[tenant.vault.role_assignment]]
            principal = "shared-reader"
            role = "Key Vault Secrets User"

            [[tenant.vault.secret]]
            name = "for-shared"
            value = "user-assigned-value"

            [[tenant.vault]]
            name = "private"
            public_network_access = "disabled"

            [[tenant.vault.role_assignment]]
            principal = "admin"
            role = "Key Vault Secrets User"

            [[tenant.vault.secret]]
            name = "inside"
            value = "reached-privately"

            # A Managed HSM, for the AES keys a vault refuses.
            [[tenant.managed_hsm]]
            name = "billing-hsm"
            administrators = ["admin"]
            activated = true

            [[tenant.managed_hsm.role_assignment]]
            principal = "admin"
            role = "Managed HSM Crypto User"
            scope = "/"

            [[private_endpoint]]
            name = "private-pe"
            vault = "private"
            listen = "{PRIVATE_ENDPOINT}:0"
            """
        ) + LIMITS_OFF
        with serving(data_dir, config) as server:
            server.material = material
            yield server


@contextlib.contextmanager
def serving(data_dir, config):
    """`strongroom serve` on `config`, written to `strongroom.toml` in `data_dir`; stopped when the block ends."""
    path = pathlib.Path(data_dir) / "strongroom.toml"
    path.write_text(config)
    server = Server(["serve", "--config", str(path)], data_dir).start()
    try:
        yield server
    finally:
        server.stop()


def strongroom_cli(server, *args):
    """Runs `strongroom` as an administrator runs it: signed in as the admin application from the environment."""
    env = {
        **os.environ,
        "AZURE_AUTHORITY_HOST": f"https://localhost:{server.port}",
        "AZURE_TENANT_ID": CONTOSO,
        "AZURE_CLIENT_ID": APPS["admin"],
        "AZURE_CLIENT_SECRET": app_secret("admin"),
        "SSL_CERT_FILE": server.ca,
    }
    done = subprocess.run([BINARY, *args], env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


POSTGRES = os.environ.get("STRONGROOM_TEST_POSTGRES")
# Under CI the PostgreSQL tests never pass by skipping: a missing server fails the run.
if not POSTGRES and os.environ.get("CI") == "true":
    raise RuntimeError("STRONGROOM_TEST_POSTGRES is not set under CI")


def fresh_postgres_database():
    """A new, empty database on the test PostgreSQL server; its URL."""
    name = f"strongroom_py_{uuid.uuid4().hex}"
    subprocess.run(["psql", POSTGRES, "-qc", f"CREATE DATABASE {name}"], check=True, stdin=subprocess.DEVNULL)
    return urllib.parse.urlsplit(POSTGRES)._replace(path=f"/{name}").geturl()


def free_port(*addresses):
    """A port free on every one of `addresses`."""
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind((addresses[0], 0))
            port = probe.getsockname()[1]
        try:
            for address in addresses[1:]:
                with socket.socket() as other:
                    other.bind((address, port))
            return port
        except OSError:
            continue
    raise RuntimeError("no port is free on every address")


def node_config(data_dir, listen, storage, body):
    return server_section(data_dir, f'"{listen}"') + f'storage = "{storage}"\n' + body + LIMITS_OFF


def start_node(data_dir, listen, storage, body, seed_from=None):
    """`strongroom serve` as one node of an installation on `storage`; a later node gets the first one's root key
    and CA (what an operator copies to each node)."""
    data_dir = pathlib.Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    if seed_from is not None:
        for name in ["root.key", "ca.pem", "ca-key.pem"]:
            shutil.copy(pathlib.Path(seed_from) / name, data_dir / name)
    path = data_dir / "strongroom.toml"
    path.write_text(node_config(data_dir, listen, storage, body))
    node = Server(["serve", "--config", str(path)], data_dir).start()
    node.address = listen.rsplit(":", 1)[0]
    return node
