"""Two Strongroom nodes on one PostgreSQL database (and one installation moving there from SQLite), driven by the unmodified SDKs as clients behind a load
balancer would be: both nodes answer on one port (node A on 127.0.0.1, node B on 127.0.0.2) and every test picks
the node its requests reach. Skipped when STRONGROOM_TEST_POSTGRES names no server."""

import concurrent.futures
import json
import os
import signal
import subprocess
import tempfile

import pytest
import requests
from azure.core.exceptions import AzureError, HttpResponseError
from azure.identity import ClientSecretCredential
from azure.keyvault.secrets import SecretClient

from conftest import (
    APPS,
    BINARY,
    CONTOSO,
    POSTGRES,
    Server,
    app_secret,
    free_port,
    fresh_postgres_database,
    on_node,
    read_env_file,
    start_dev,
    start_node,
    strongroom_cli,
)

pytestmark = pytest.mark.skipif(not POSTGRES, reason="STRONGROOM_TEST_POSTGRES is not set: no PostgreSQL to share")

TENANT = f"""
[[tenant]]
name = "contoso"
id = "{CONTOSO}"

[[tenant.app]]
name = "admin"
client_id = "{APPS['admin']}"
secrets = ["{app_secret('admin')}"]

[[tenant.app]]
name = "reader"
client_id = "{APPS['reader']}"
secrets = ["{app_secret('reader')}"]

[[tenant.vault]]
name = "shared"

[[tenant.vault.role_assignment]]
principal = "admin"
role = "Key Vault Administrator"

[[tenant.role_assignment]]
principal = "admin"
role = "Owner"

[[tenant.role_assignment]]
principal = "admin"
role = "Global Administrator"
"""


class Nodes:
    def __init__(self, folder):
        self.folder = folder
        self.storage = fresh_postgres_database()
        self.port = free_port("127.0.0.1", "127.0.0.2")
        self.a = start_node(f"{folder}/a", f"127.0.0.1:{self.port}", self.storage, TENANT)
        self.b = start_node(f"{folder}/b", f"127.0.0.2:{self.port}", self.storage, TENANT, seed_from=f"{folder}/a")

    def client(self, node, app="admin", **options):
        """A SecretClient (and credential) whose connections all go to `node`; `options` go to the client."""
        credential = ClientSecretCredential(
            CONTOSO,
            APPS[app],
            app_secret(app),
            authority=f"https://localhost:{self.port}",
            disable_instance_discovery=True,
            connection_verify=self.a.ca,
        )
        client = SecretClient(
            f"https://shared.vault.localhost:{self.port}", credential, connection_verify=self.a.ca, **options
        )
        return NodeClient(client, node.address)

    def stop(self):
        self.a.stop()
        self.b.stop()


class NodeClient:
    """Calls the SDK client with its thread's connections going to one node."""

    def __init__(self, client, address):
        self.client, self.address = client, address

    def __getattr__(self, name):
        method = getattr(self.client, name)

        def call(*args, **kwargs):
            with on_node(self.address):
                result = method(*args, **kwargs)
                return list(result) if name.startswith("list_") else result

        return call


@pytest.fixture(scope="module")
def nodes():
    with tempfile.TemporaryDirectory() as folder:
        nodes = Nodes(folder)
        try:
            yield nodes
        finally:
            nodes.stop()


def test_a_write_through_one_node_is_read_through_the_other_at_once(nodes):
    a, b = nodes.client(nodes.a), nodes.client(nodes.b)
    a.set_secret("handover", "first")
    assert b.get_secret("handover").value == "first"  # B now holds it in its cache
    for round in range(20):
        written = a.set_secret("handover", f"value-{round}")
        read = b.get_secret("handover")
        assert (read.value, read.properties.version) == (f"value-{round}", written.properties.version)
    a.begin_delete_secret("handover")  # deleted by the time the first answer comes
    with pytest.raises(HttpResponseError) as gone:
        b.get_secret("handover")
    assert gone.value.status_code == 404


def test_a_role_assignment_removed_on_one_node_denies_on_the_other_at_once(nodes):
    nodes.client(nodes.a).set_secret("guarded", "inside")
    reader = nodes.client(nodes.b, app="reader")
    with pytest.raises(HttpResponseError) as refused:
        reader.get_secret("guarded")
    assert refused.value.status_code == 403
    scope = "vaults/shared/secrets/guarded"
    assignment = ["--assignee", "reader", "--role", "Key Vault Secrets User", "--scope", scope]
    json.loads(strongroom_cli(nodes.a, "role", "assignment", "create", *assignment))  # through node A
    assert reader.get_secret("guarded").value == "inside"
    strongroom_cli(nodes.a, "role", "assignment", "delete", *assignment)
    with pytest.raises(HttpResponseError) as refused:
        reader.get_secret("guarded")
    assert refused.value.status_code == 403


def test_eight_writers_on_two_nodes_produce_every_version(nodes):
    clients = [nodes.client(nodes.a if i % 2 == 0 else nodes.b) for i in range(8)]

    def write(index):
        return [clients[index].set_secret("contended", f"w{index}-{n}").properties.version for n in range(10)]

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        written = [v for versions in pool.map(write, range(8)) for v in versions]
    listed = nodes.client(nodes.b).list_properties_of_secret_versions("contended")
    assert sorted(p.version for p in listed) == sorted(written)
    assert len(set(written)) == 80
    values = {nodes.client(nodes.a).get_secret("contended", v).value for v in written[:8]}
    assert len(values) == 8


def test_when_one_node_dies_the_other_keeps_serving_and_no_acknowledged_write_is_lost(nodes):
    # No retries: a write is acknowledged or refused at once (a retry would go to the dead node again).
    a_client, b_client = nodes.client(nodes.a, retry_total=0), nodes.client(nodes.b, retry_total=0)
    acknowledged = {}

    def write(client, prefix):
        for n in range(40):
            name = f"{prefix}-{n}"
            try:
                acknowledged[name] = client.set_secret(name, f"value-of-{name}").properties.version
            except AzureError:  # refused, or the connection died with the node
                return

    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        on_a = pool.submit(write, a_client, "via-a")
        on_b = pool.submit(write, b_client, "via-b")
        while len(acknowledged) < 10:
            pass
        os.kill(nodes.a.process.pid, signal.SIGKILL)
        on_a.result(timeout=60)
        on_b.result(timeout=60)
    assert sum(name.startswith("via-b") for name in acknowledged) == 40, "node B stopped serving"
    for name, version in acknowledged.items():
        assert b_client.get_secret(name, version).value == f"value-of-{name}"


def token_status(port, ca, address, secret):
    """A client-credentials request for the reader through the node at `address`: status and AADSTS codes."""
    with on_node(address):
        response = requests.post(
            f"https://localhost:{port}/{CONTOSO}/oauth2/v2.0/token",
            data={
                "grant_type": "client_credentials",
                "client_id": APPS["reader"],
                "client_secret": secret,
                "scope": f"https://vault.localhost:{port}/.default",
            },
            verify=ca,
            timeout=30,
        )
    return response.status_code, response.json().get("error_codes", [])


def test_a_lock_out_earned_on_one_node_holds_on_the_other():
    # Nodes of their own: the lock-out also holds the test's address for a minute.
    with tempfile.TemporaryDirectory() as folder:
        nodes = Nodes(folder)
        try:
            port, ca = nodes.port, nodes.a.ca
            assert token_status(port, ca, nodes.b.address, app_secret("reader"))[0] == 200
            for _ in range(10):
                assert token_status(port, ca, nodes.a.address, "wrong-secret-0123456789")[1] == [7000215]
            assert token_status(port, ca, nodes.b.address, app_secret("reader")) == (400, [50053])
        finally:
            nodes.stop()


def test_an_installation_moves_from_sqlite_to_postgres_with_backup_and_restore(tmp_path):
    sqlite = start_dev(tmp_path)
    try:
        env = sqlite.env
        credential = ClientSecretCredential(
            env["AZURE_TENANT_ID"], env["AZURE_CLIENT_ID"], env["AZURE_CLIENT_SECRET"],
            authority=env["AZURE_AUTHORITY_HOST"], disable_instance_discovery=True, connection_verify=sqlite.ca,
        )
        SecretClient(env["VAULT_URL"], credential, connection_verify=sqlite.ca).set_secret("moving", "with-us")
    finally:
        sqlite.stop()
    storage = fresh_postgres_database()
    run = lambda *args: subprocess.run([BINARY, *args], capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=120)
    copy = tmp_path / "store.copy"
    assert run("backup", "--data-dir", str(tmp_path), "--out", str(copy)).returncode == 0
    restored = run("restore", "--data-dir", str(tmp_path), "--storage", storage, "--in", str(copy))
    assert restored.returncode == 0, restored.stderr
    assert "intact" in run("check", "--data-dir", str(tmp_path), "--storage", storage).stdout
    again = run("restore", "--data-dir", str(tmp_path), "--storage", storage, "--in", str(copy))
    assert again.returncode != 0 and "not empty" in again.stderr

    moved = Server(["dev", "--listen", "127.0.0.1:0", "--data-dir", str(tmp_path), "--storage", storage], tmp_path).start()
    try:
        env = read_env_file(tmp_path / "dev.env")
        credential = ClientSecretCredential(
            env["AZURE_TENANT_ID"], env["AZURE_CLIENT_ID"], env["AZURE_CLIENT_SECRET"],
            authority=env["AZURE_AUTHORITY_HOST"], disable_instance_discovery=True, connection_verify=moved.ca,
        )
        assert SecretClient(env["VAULT_URL"], credential, connection_verify=moved.ca).get_secret("moving").value == "with-us"
    finally:
        moved.stop()
