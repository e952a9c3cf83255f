"""Service limits (issue 23, part 3): the unmodified azure-keyvault-secrets SDK against a vault with small limits.
Past a limit the server answers 429 with Retry-After, as Key Vault does; the SDK's own retry policy waits and
tries again, and every call succeeds. The 429s are counted on /metrics, as Key Vault's ServiceApiResult."""

import tempfile
import time

import pytest

from conftest import CONTOSO, ONE_PORT, server_section, serving, standard_tenants
from test_metrics import scrape, value
from test_secrets_sdk import client_for

# Small limits, so that a few dozen calls pass them: ten reads and four sets per vault and two seconds.
WINDOW_SECONDS = 2
READS = 10
SETS = 4


@pytest.fixture(scope="module")
def limited_server():
    with tempfile.TemporaryDirectory() as data_dir:
        config = (
            server_section(data_dir, ONE_PORT)
            + 'metrics_listen = "127.0.0.1:0"\n'
            + standard_tenants()
            + f"\n[service_limits]\nwindow_seconds = {WINDOW_SECONDS}\ntransactions = {READS}\nsecret_creates = {SETS}\n"
        )
        with serving(data_dir, config) as server:
            yield server


def throttled(samples, activity):
    labels = dict(vault="billing", activity_type="secret", activity_name=activity)
    return value(samples, "strongroom_keyvault_service_api_result_total", **labels, status_code="429", status_code_class="4xx")


def test_the_sdk_retries_past_the_limit_and_every_call_succeeds(limited_server):
    client = client_for(limited_server, "admin", tenant=CONTOSO)
    before = scrape(limited_server)
    started = time.monotonic()

    # Twice a window's worth of sets, then of reads, as fast as the SDK goes.
    for n in range(2 * SETS):
        assert client.set_secret(f"limited-{n}", f"value-{n}").value == f"value-{n}"
    for n in range(2 * READS):
        assert client.get_secret("seeded").value == "seeded-value-42"

    elapsed = time.monotonic() - started
    after = scrape(limited_server)
    refused_sets = throttled(after, "SecretSet") - throttled(before, "SecretSet")
    refused_reads = throttled(after, "SecretGet") - throttled(before, "SecretGet")
    # Each budget was full, and the SDK waited as told and was let in.
    assert refused_sets >= 1 and refused_reads >= 1, (refused_sets, refused_reads)
    ok = dict(vault="billing", activity_type="secret", activity_name="SecretGet", status_code="200", status_code_class="2xx")
    name = "strongroom_keyvault_service_api_result_total"
    assert value(after, name, **ok) - value(before, name, **ok) == 2 * READS
    # Waiting is what let them in: the second half of each budget's calls waited for the first to leave the window.
    assert elapsed >= 2 * (WINDOW_SECONDS - 0.5), elapsed
    used = value(after, "strongroom_keyvault_vault_saturation_percent", vault="billing", limit="transactions")
    assert 0 < used <= 100
