"""Test controls (issue 23, part 5) as an application team uses them: `strongroom test fault` makes the vault
answer 429, 500 or 503, or late, and the unmodified SDKs' retry policies carry the application through — or,
with retries off, show the error as Azure would; `strongroom test clock` moves the server's time, and a key's
rotation policy comes due at once. Every change is in the audit log."""

import json
import tempfile
import time

import pytest
from azure.core.exceptions import HttpResponseError
from azure.keyvault.keys import KeyClient, KeyRotationLifetimeAction, KeyRotationPolicyAction
from azure.keyvault.secrets import SecretClient

from conftest import controlled_config, serving, strongroom_cli
from test_secrets_sdk import client_for, credential_for


@pytest.fixture(scope="module")
def controlled_server():
    """A server with test controls on, of its own: moving its clock must not move another test's."""
    with tempfile.TemporaryDirectory() as data_dir:
        config = controlled_config(data_dir)
        with serving(data_dir, config) as server:
            yield server


def audit_rows(server):
    return [json.loads(line) for line in (server.data_dir / "audit.log").read_text().splitlines()]


def injected(server, expected):
    """The vault requests answered with an injected fault so far, by status, once there are `expected` of them
    (the audit writer runs apart from the requests)."""
    deadline = time.monotonic() + 5
    while True:
        rows = [r for r in audit_rows(server) if r.get("ResultDescription") == "InjectedFault"]
        if len(rows) >= expected or time.monotonic() > deadline:
            return [r["HttpStatusCode"] for r in rows]
        time.sleep(0.05)


def fault(server, *args):
    return strongroom_cli(server, "test", "fault", "--vault", "billing", *args)


def test_the_sdk_retries_through_injected_faults_and_sees_them_with_retries_off(controlled_server):
    client = client_for(controlled_server, "admin")
    assert client.get_secret("seeded").value == "seeded-value-42"

    # The next two requests answer 503 with Retry-After: 1; the SDK waits and retries, and the call succeeds.
    plan = json.loads(fault(controlled_server, "--status", "503", "--count", "2"))
    assert plan["properties"]["statusCode"] == 503 and plan["properties"]["count"] == 2
    started = time.monotonic()
    assert client.get_secret("seeded").value == "seeded-value-42"
    assert time.monotonic() - started >= 2, "the SDK honoured Retry-After twice"
    assert injected(controlled_server, 2) == [503, 503]

    # One in two requests answers 429 (Key Vault's throttling): of four calls, the second, third and fourth
    # each meet one and succeed on their retry.
    fault(controlled_server, "--status", "429", "--fraction", "0.5", "--retry-after", "0")
    for _ in range(4):
        assert client.get_secret("seeded").value == "seeded-value-42"
    assert injected(controlled_server, 5) == [503, 503, 429, 429, 429]
    shown = json.loads(fault(controlled_server, "--show"))
    assert shown["properties"]["injected"] == 3 and shown["properties"]["fraction"] == 0.5

    # With retries off, the application sees the fault exactly as Azure would send it.
    fault(controlled_server, "--clear")
    strict = SecretClient(
        f"https://billing.vault.localhost:{controlled_server.port}",
        credential_for(controlled_server, "admin"),
        connection_verify=controlled_server.ca,
        retry_total=0,
    )
    strict.get_secret("seeded")  # the first request fetches the challenge; the token follows
    fault(controlled_server, "--status", "500", "--count", "1")
    with pytest.raises(HttpResponseError) as refused:
        strict.get_secret("seeded")
    assert refused.value.status_code == 500 and refused.value.error.code == "InternalError"
    assert strict.get_secret("seeded").value == "seeded-value-42", "the plan was used up"

    # Latency alone: every request is slower, none fails.
    fault(controlled_server, "--latency-ms", "300")
    started = time.monotonic()
    assert client.get_secret("seeded").value == "seeded-value-42"
    assert time.monotonic() - started >= 0.3
    fault(controlled_server, "--clear")
    changes = [r for r in audit_rows(controlled_server) if r["Type"] == "AzureActivity"]
    assert sum(r["OperationNameValue"] == "Strongroom.Testing/faults/write" for r in changes) >= 6


def test_moving_the_clock_brings_a_keys_rotation_due_now(controlled_server):
    keys = KeyClient(
        f"https://billing.vault.localhost:{controlled_server.port}",
        credential_for(controlled_server, "admin"),
        connection_verify=controlled_server.ca,
    )
    keys.create_rsa_key("rotating", size=2048)
    policy = keys.get_key_rotation_policy("rotating")
    policy.lifetime_actions = [KeyRotationLifetimeAction(KeyRotationPolicyAction.rotate, time_after_create="P30D")]
    policy.expires_in = "P90D"
    keys.update_key_rotation_policy("rotating", policy)
    assert len(list(keys.list_properties_of_key_versions("rotating"))) == 1

    moved = json.loads(strongroom_cli(controlled_server, "test", "clock", "--advance", "31d"))
    assert moved["properties"]["offsetSeconds"] == 31 * 86_400
    deadline = time.monotonic() + 20
    while len(list(keys.list_properties_of_key_versions("rotating"))) < 2:
        assert time.monotonic() < deadline, "the rotation did not come due after the clock moved"
        time.sleep(0.5)
    assert any(r["Type"] == "AZKVAuditLogs" and r["OperationName"] == "KeyRotateByPolicy" for r in audit_rows(controlled_server))

    reset = json.loads(strongroom_cli(controlled_server, "test", "clock", "--reset"))
    assert reset["properties"]["offsetSeconds"] == 0
