"""The audit log (issue 23, part 1) as an operator ships it: rows of Azure Monitor's tables on standard output for a
container's log collector, in rotated files in the data directory, and through `strongroom audit`, with the
official SDK's traffic in them — its correlation ids, its user agent, never a secret value."""

import json
import tempfile
import textwrap

import pytest
from azure.core.exceptions import HttpResponseError

from conftest import LIMITS_OFF, ONE_PORT, server_section, serving, standard_tenants, strongroom_cli
from test_secrets_sdk import client_for

SECRET_VALUE = "shipped-nowhere-7f3a"


@pytest.fixture(scope="module")
def logging_server():
    """A server that writes its audit rows to standard output as well as to its files."""
    with tempfile.TemporaryDirectory() as data_dir:
        # Reader on billing (the fixture's last vault) lets the admin application read its logs.
        config = server_section(data_dir, ONE_PORT) + standard_tenants() + textwrap.dedent(
            """
            [[tenant.vault.role_assignment]]
            principal = "admin"
            role = "Reader"

            [audit]
            stdout = true
            max_file_size_mb = 1
            """
        ) + LIMITS_OFF
        with serving(data_dir, config) as server:
            yield server


def printed_rows(server, wanted, timeout=10):
    """Rows the server printed since the last call, until one satisfies `wanted`."""
    rows = []
    while not any(wanted(row) for row in rows):
        line = server.later_output.get(timeout=timeout)
        assert line is not None, "the server exited"
        rows.append(json.loads(line))
    return rows


def test_the_sdks_requests_reach_standard_output_and_strongroom_audit_as_azure_monitor_rows(logging_server):
    client = client_for(logging_server, "admin")
    client.set_secret("shipped", SECRET_VALUE)
    assert client.get_secret("shipped").value == SECRET_VALUE
    with pytest.raises(HttpResponseError) as refused:
        client_for(logging_server, "reader").get_secret("shipped")
    assert refused.value.status_code == 403

    rows = printed_rows(logging_server, lambda r: r.get("ResultDescription") == "ForbiddenByRbac")
    vault_rows = [r for r in rows if r["Type"] == "AZKVAuditLogs"]
    got = next(r for r in vault_rows if r["OperationName"] == "SecretGet" and r["HttpStatusCode"] == 200)
    # The SDK's own request id is the row's correlation id, and its user agent the client info.
    assert len(got["CorrelationId"]) == 36 and got["ClientInfo"].startswith("azsdk-python-keyvault-secrets/")
    assert got["IsRbacAuthorized"] is True and got["TlsVersion"] in ("TLS1_2", "TLS1_3")
    # The SDK's first request of each client carries no token: the 401 challenge is a row too.
    assert any(r["HttpStatusCode"] == 401 and "Identity" not in r for r in vault_rows)
    assert any(r["Type"] == "AADServicePrincipalSignInLogs" and r["ResultType"] == "0" for r in rows)
    assert not any(SECRET_VALUE in json.dumps(r) for r in rows)

    # The same rows are in the file, and `strongroom audit` reads them back through the management API.
    assert "ForbiddenByRbac" in (logging_server.data_dir / "audit.log").read_text()
    printed = strongroom_cli(logging_server, "audit", "--vault", "billing", "--outcome", "Failure", "--top", "50")
    failures = [json.loads(line) for line in printed.splitlines()]
    assert failures and all(r["Type"] == "AZKVAuditLogs" and r["ResultType"] == "Failure" for r in failures)
    assert any(r["ResultDescription"] == "ForbiddenByRbac" for r in failures)
    got_only = strongroom_cli(logging_server, "audit", "--vault", "billing", "--operation", "SecretGet", "--top", "1")
    assert [json.loads(line)["OperationName"] for line in got_only.splitlines()] == ["SecretGet"]


def test_the_log_rotates_by_size_and_the_query_reads_across_files(logging_server):
    client = client_for(logging_server, "admin")
    # About 1 KiB per row: enough requests to pass the 1 MiB limit.
    padding = "x" * 100
    for n in range(1_300):
        with pytest.raises(HttpResponseError):
            client.get_secret(f"missing-{n:04d}-{padding}")
    printed_rows(logging_server, lambda r: r.get("Id", "").rstrip("/").endswith("missing-1299-" + padding))
    rotated = sorted(logging_server.data_dir.glob("audit-*.log"))
    assert rotated, "no rotated file"
    assert all(path.stat().st_mode & 0o777 == 0o600 for path in rotated)
    printed = strongroom_cli(logging_server, "audit", "--vault", "billing", "--operation", "SecretGet", "--top", "3")
    names = [json.loads(line)["Id"].rstrip("/").rsplit("/", 1)[1][:12] for line in printed.splitlines()]
    assert names == ["missing-1299", "missing-1298", "missing-1297"], "newest first"
    # Rows older than the current file's first one are in a rotated file: the query reaches them there.
    first_in_file = json.loads((logging_server.data_dir / "audit.log").read_text().splitlines()[0])
    older = strongroom_cli(
        logging_server, "audit", "--vault", "billing", "--to", first_in_file["TimeGenerated"], "--top", "5"
    )
    older_rows = [json.loads(line) for line in older.splitlines()]
    assert len(older_rows) == 5
    assert all(r["TimeGenerated"] < first_in_file["TimeGenerated"] for r in older_rows)
