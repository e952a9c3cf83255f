"""Credentials of azure-identity beyond client secrets, unmodified, each reading a secret afterwards."""

import http.client
import json

import pytest
import requests
from azure.core.exceptions import HttpResponseError
from azure.identity import DefaultAzureCredential, ManagedIdentityCredential
from azure.keyvault.secrets import SecretClient

from conftest import APPS, CONTOSO, MI_SHARED, MI_WEB, MI_WEB_HEADER, app_secret

MI_VARIABLES = [
    "IDENTITY_ENDPOINT",
    "IDENTITY_HEADER",
    "IDENTITY_SERVER_THUMBPRINT",
    "IMDS_ENDPOINT",
    "MSI_ENDPOINT",
    "MSI_SECRET",
    "AZURE_POD_IDENTITY_AUTHORITY_HOST",
    "AZURE_CLIENT_ID",
    "AZURE_CLIENT_SECRET",
    "AZURE_TENANT_ID",
    "AZURE_FEDERATED_TOKEN_FILE",
    "AZURE_USERNAME",
    "AZURE_PASSWORD",
    "AZURE_CLIENT_CERTIFICATE_PATH",
]


@pytest.fixture
def environment(configured_server, monkeypatch):
    """A clean credential environment that trusts the server's CA, as a deployed workload's would."""
    for name in MI_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", configured_server.ca)
    monkeypatch.setenv("AZURE_AUTHORITY_HOST", f"https://localhost:{configured_server.port}")
    return monkeypatch


def read(server, credential, vault="billing", name="db-password"):
    return SecretClient(f"https://{vault}.vault.localhost:{server.port}", credential).get_secret(name).value


def test_managed_identity_through_imds(configured_server, environment):
    environment.setenv("AZURE_POD_IDENTITY_AUTHORITY_HOST", f"http://127.0.0.1:{configured_server.imds_port}")
    assert read(configured_server, ManagedIdentityCredential()) == "seeded-value-42"

    # The user-assigned identity, selected by client id, has its own permissions, not the workload's.
    shared = ManagedIdentityCredential(client_id=MI_SHARED)
    assert read(configured_server, shared, vault="shared", name="for-shared") == "user-assigned-value"
    with pytest.raises(HttpResponseError) as refused:
        read(configured_server, ManagedIdentityCredential(), vault="shared", name="for-shared")
    assert refused.value.status_code == 403


def test_managed_identity_in_app_service(configured_server, environment):
    environment.setenv("IDENTITY_ENDPOINT", f"https://localhost:{configured_server.port}/msi/token")
    environment.setenv("IDENTITY_HEADER", MI_WEB_HEADER)
    assert read(configured_server, ManagedIdentityCredential()) == "seeded-value-42"
    shared = ManagedIdentityCredential(client_id=MI_SHARED)
    assert read(configured_server, shared, vault="shared", name="for-shared") == "user-assigned-value"


def test_managed_identity_in_cloud_shell(configured_server, environment):
    environment.setenv("MSI_ENDPOINT", f"https://localhost:{configured_server.port}/msi/token")
    assert read(configured_server, ManagedIdentityCredential()) == "seeded-value-42"


def test_managed_identity_in_azure_machine_learning(configured_server, environment):
    environment.setenv("MSI_ENDPOINT", f"https://localhost:{configured_server.port}/msi/token")
    environment.setenv("MSI_SECRET", MI_WEB_HEADER)
    assert read(configured_server, ManagedIdentityCredential()) == "seeded-value-42"


def test_default_credential_with_a_managed_identity(configured_server, environment):
    environment.setenv("AZURE_POD_IDENTITY_AUTHORITY_HOST", f"http://127.0.0.1:{configured_server.imds_port}")
    assert read(configured_server, DefaultAzureCredential(disable_instance_discovery=True)) == "seeded-value-42"


def test_default_credential_with_a_client_secret_in_the_environment(configured_server, environment):
    environment.setenv("AZURE_TENANT_ID", CONTOSO)
    environment.setenv("AZURE_CLIENT_ID", APPS["secrets-user"])
    environment.setenv("AZURE_CLIENT_SECRET", app_secret("secrets-user"))
    assert read(configured_server, DefaultAzureCredential(disable_instance_discovery=True)) == "seeded-value-42"


def imds_get(server, headers, source="127.0.0.1"):
    resource = f"https://vault.localhost:{server.port}"
    connection = http.client.HTTPConnection("127.0.0.1", server.imds_port, source_address=(source, 0), timeout=10)
    connection.request("GET", f"/metadata/identity/oauth2/token?api-version=2018-02-01&resource={resource}", headers=headers)
    response = connection.getresponse()
    body = json.loads(response.read() or b"{}")
    connection.close()
    return response.status, body


def test_managed_identity_endpoints_refuse_what_they_should(configured_server):
    status, body = imds_get(configured_server, {})
    assert (status, body["error"]) == (400, "invalid_request")
    assert "metadata" in body["error_description"].lower()
    assert "access_token" not in body

    status, body = imds_get(configured_server, {"Metadata": "true"}, source="127.0.0.5")
    assert status == 400 and "access_token" not in body

    status, body = imds_get(configured_server, {"Metadata": "true"})
    assert status == 200 and body["client_id"] == MI_WEB
    assert all(isinstance(body[k], str) for k in ["expires_in", "expires_on", "not_before", "resource", "token_type"])

    msi = f"https://localhost:{configured_server.port}/msi/token"
    resource = f"https://vault.localhost:{configured_server.port}"
    for headers in [{}, {"X-IDENTITY-HEADER": "wrong-header-value-0000"}]:
        response = requests.get(
            msi,
            params={"api-version": "2019-08-01", "resource": resource},
            headers=headers,
            verify=configured_server.ca,
            timeout=10,
        )
        assert response.status_code == 401 and "access_token" not in response.json()
