"""Two Strongroom nodes on one PostgreSQL database, driven by the unmodified SDKs as clients behind a load
balancer would be: both nodes answer on one port (node A on 127.0.0.1, node B on 127.0.0.2) and every test picks
the node its requests reach. Skipped when STRONGROOM_TEST_POSTGRES names no server."""

import concurrent.futures
import json
import os
import signal
import tempfile

import pytest
from azure.core.exceptions import HttpResponseError, ServiceRequestError
from azure.identity import ClientSecretCredential
from azure.keyvault.secrets import SecretClient

from conftest import (
    APPS,
    CONTOSO,
    POSTGRES,
    app_secret,
    free_port,
    fresh_postgres_database,
    on_node,
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

    def client(self, node, app="admin"):
        """A SecretClient (and credential) whose connections all go to `node`."""
        credential = ClientSecretCredential(
            CONTOSO,
            APPS[app],
            app_secret(app),
            authority=f"https://localhost:{self.port}",
            disable_instance_discovery=True,
            connection_verify=self.a.ca,
        )
        client = SecretClient(f"https://shared.vault.localhost:{self.port}", credential, connection_verify=self.a.ca)
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
    a_client, b_client = nodes.client(nodes.a), nodes.client(nodes.b)
    acknowledged = {}

    def write(client, prefix):
        for n in range(40):
            name = f"{prefix}-{n}"
            try:
                acknowledged[name] = client.set_secret(name, f"value-of-{name}").properties.version
            except (HttpResponseError, ServiceRequestError):
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
