"""Metrics (issue 23, part 2): `/metrics`, parsed by the Prometheus client library's own parser, moves with the
official SDK's traffic as Key Vault's metrics would; `/healthz` and `/readyz` answer."""

import requests
from azure.core.exceptions import HttpResponseError
from prometheus_client.parser import text_string_to_metric_families

from test_secrets_sdk import client_for


def scrape(server):
    """Every sample of a scrape, by (name, sorted labels)."""
    response = requests.get(server.metrics_url, timeout=10)
    assert response.status_code == 200
    samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples, name, **labels):
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_the_sdks_traffic_moves_key_vaults_metrics(configured_server):
    get = {"vault": "billing", "activity_type": "secret", "activity_name": "SecretGet"}
    before = scrape(configured_server)
    user = client_for(configured_server, "secrets-user")
    for _ in range(3):
        assert user.get_secret("seeded").value == "seeded-value-42"
    try:
        client_for(configured_server, "reader").get_secret("seeded")
    except HttpResponseError as refused:
        assert refused.status_code == 403
    after = scrape(configured_server)

    hits = "strongroom_keyvault_service_api_hit_total"
    results = "strongroom_keyvault_service_api_result_total"
    # Four reads, and the SDKs' first, unauthenticated requests that fetch the challenge (401): Key Vault
    # counts every request it answers.
    hit_delta = value(after, hits, **get) - value(before, hits, **get)
    result_delta = sum(
        v - before.get(key, 0.0)
        for key, v in after.items()
        if key[0] == results and all(label in key[1] for label in get.items())
    )
    assert hit_delta >= 4 and hit_delta == result_delta
    ok = dict(get, status_code="200", status_code_class="2xx")
    refused = dict(get, status_code="403", status_code_class="4xx")
    assert value(after, results, **ok) - value(before, results, **ok) == 3
    assert value(after, results, **refused) - value(before, results, **refused) == 1
    latency = "strongroom_keyvault_service_api_latency_milliseconds_count"
    assert value(after, latency, **get) == value(after, hits, **get)
    grants = dict(grant_type="client_credentials", outcome="success")
    assert value(after, "strongroom_token_grants_total", **grants) >= 2
    assert 0 <= value(after, "strongroom_keyvault_saturation_percent") <= 100

    base = configured_server.metrics_url.rsplit("/", 1)[0]
    assert requests.get(f"{base}/healthz", timeout=10).text == "ok\n"
    assert requests.get(f"{base}/readyz", timeout=10).status_code == 200
