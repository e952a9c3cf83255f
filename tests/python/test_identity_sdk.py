"""Credentials of azure-identity beyond client secrets, unmodified, each reading a secret afterwards."""

import base64
import http.client
import json
import os
import pathlib
import ssl
import sys
import time
import urllib.parse
import uuid

import pytest
import requests
from azure.core.exceptions import ClientAuthenticationError, HttpResponseError
import jwt
from azure.identity import (
    CertificateCredential,
    ClientSecretCredential,
    ClientAssertionCredential,
    DefaultAzureCredential,
    DeviceCodeCredential,
    InteractiveBrowserCredential,
    ManagedIdentityCredential,
    UsernamePasswordCredential,
    WorkloadIdentityCredential,
)
from azure.keyvault.secrets import SecretClient

from conftest import (
    APPS,
    Server,
    CERT_APP,
    CLI_APP,
    CONTOSO,
    MI_SHARED,
    MI_WEB,
    MI_WEB_HEADER,
    USER_PASSWORD,
    USER_REALM_PORT_AVAILABLE,
    WORKLOAD_APP,
    app_secret,
    strongroom_cli,
)

from fake_browser import hidden_fields

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


def test_an_application_registered_with_the_cli_signs_in_with_its_certificate(configured_server, environment):
    server, folder = configured_server, configured_server.material.folder
    app = json.loads(strongroom_cli(server, "ad", "app", "create", "--display-name", "registered-at-runtime"))
    strongroom_cli(server, "ad", "app", "credential", "set-certificate", "--id", app["appId"], "--cert", str(folder / "stranger.crt"))
    strongroom_cli(
        server, "role", "assignment", "create", "--assignee", app["appId"],
        "--role", "Key Vault Secrets User", "--scope", "vaults/billing/secrets/db-password",
    )
    credential = CertificateCredential(CONTOSO, app["appId"], str(folder / "stranger.pem"), disable_instance_discovery=True)
    assert read(server, credential) == "seeded-value-42"
    strongroom_cli(server, "ad", "app", "delete", "--id", app["id"])
    deleted = CertificateCredential(CONTOSO, app["appId"], str(folder / "stranger.pem"), disable_instance_discovery=True)
    with pytest.raises(ClientAuthenticationError) as refused:
        read(server, deleted)
    assert "AADSTS700016" in str(refused.value)


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


def token_endpoint(server):
    return f"https://localhost:{server.port}/{CONTOSO}/oauth2/v2.0/token"


def authority(server):
    return f"https://localhost:{server.port}"


@pytest.mark.parametrize(
    "file, options",
    [
        ("cert-app.pem", {}),
        ("cert-app.pem", {"send_certificate_chain": True}),
        ("cert-app.pfx", {"password": b"pfx-password"}),
        ("cert-app.pfx", {"password": b"pfx-password", "send_certificate_chain": True}),
    ],
)
def test_certificate_credential(configured_server, environment, file, options):
    credential = CertificateCredential(
        CONTOSO,
        CERT_APP,
        str(configured_server.material.folder / file),
        disable_instance_discovery=True,
        **options,
    )
    assert read(configured_server, credential) == "seeded-value-42"


def assertion(server, key, cert, audience=None, algorithm="PS256", jti=None, subject=CERT_APP):
    from cryptography.hazmat.primitives import hashes, serialization

    now = int(time.time())
    claims = {
        "aud": audience or token_endpoint(server),
        "iss": CERT_APP,
        "sub": subject,
        "jti": jti or str(uuid.uuid4()),
        "nbf": now,
        "exp": now + 600,
    }
    thumbprint = base64.urlsafe_b64encode(cert.fingerprint(hashes.SHA256())).rstrip(b"=").decode()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return jwt.encode(claims, pem, algorithm=algorithm, headers={"x5t#S256": thumbprint})


def test_client_assertion_credential(configured_server, environment):
    material = configured_server.material
    credential = ClientAssertionCredential(
        CONTOSO, CERT_APP, lambda: assertion(configured_server, material.key, material.cert)
    )
    assert read(configured_server, credential) == "seeded-value-42"


def test_workload_identity_credential(configured_server, environment, tmp_path):
    token_file = tmp_path / "token"
    token_file.write_text(configured_server.material.federated_token())
    credential = WorkloadIdentityCredential(
        tenant_id=CONTOSO, client_id=WORKLOAD_APP, token_file_path=str(token_file)
    )
    assert read(configured_server, credential) == "seeded-value-42"


def test_default_credential_with_workload_identity(configured_server, environment, tmp_path):
    token_file = tmp_path / "token"
    token_file.write_text(configured_server.material.federated_token())
    environment.setenv("AZURE_TENANT_ID", CONTOSO)
    environment.setenv("AZURE_CLIENT_ID", WORKLOAD_APP)
    environment.setenv("AZURE_FEDERATED_TOKEN_FILE", str(token_file))
    assert read(configured_server, DefaultAzureCredential(disable_instance_discovery=True)) == "seeded-value-42"


def post_token(server, **fields):
    form = {"grant_type": "client_credentials", "scope": f"https://vault.localhost:{server.port}/.default", **fields}
    response = requests.post(token_endpoint(server), data=form, verify=server.ca, timeout=10)
    return response.status_code, response.json()


def assertion_fields(client_id, signed):
    return {
        "client_id": client_id,
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "client_assertion": signed,
    }


def test_assertions_that_must_be_refused(configured_server):
    material = configured_server.material
    server = configured_server
    cases = [
        ("unregistered certificate", assertion(server, material.stranger_key, material.stranger_cert), 700027),
        ("another certificate's thumbprint", assertion(server, material.stranger_key, material.cert), 700027),
        ("another audience", assertion(server, material.key, material.cert, audience="https://elsewhere/token"), 50027),
        ("another subject", assertion(server, material.key, material.cert, subject=APPS["admin"]), 50048),
    ]
    for reason, signed, code in cases:
        status, body = post_token(server, **assertion_fields(CERT_APP, signed))
        assert (status, body.get("error_codes")) == (401, [code]), reason
        assert "access_token" not in body, reason

    replayed = assertion(server, material.key, material.cert, jti="used-once")
    assert post_token(server, **assertion_fields(CERT_APP, replayed))[0] == 200
    status, body = post_token(server, **assertion_fields(CERT_APP, replayed))
    assert (status, body["error_codes"]) == (401, [50012])

    for reason, token in [
        ("wrong subject", material.federated_token(subject="system:serviceaccount:prod:intruder")),
        ("wrong audience", material.federated_token(audience="api://something-else")),
    ]:
        status, body = post_token(server, **assertion_fields(WORKLOAD_APP, token))
        assert (status, body["error_codes"]) == (400, [70021]), reason
    status, body = post_token(server, **assertion_fields(WORKLOAD_APP, material.federated_token(lifetime=-3600)))
    assert (status, body["error_codes"]) == (401, [700024])


@pytest.mark.skipif(not USER_REALM_PORT_AVAILABLE, reason="MSAL's user-realm lookup goes to port 443, which only root may bind")
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_username_password_credential(configured_server, environment):
    # alice reads the secret through nested groups: ops is a member of staff, which holds the role.
    credential = UsernamePasswordCredential(
        CLI_APP, "alice@contoso", USER_PASSWORD, tenant_id=CONTOSO, disable_instance_discovery=True
    )
    assert read(configured_server, credential) == "seeded-value-42"


def password_grant(server, username, password, source=None):
    form = {
        "grant_type": "password",
        "client_id": CLI_APP,
        "username": username,
        "password": password,
        "scope": f"https://vault.localhost:{server.port}/.default offline_access openid profile",
        "client_info": "1",
    }
    if source is None:
        response = requests.post(token_endpoint(server), data=form, verify=server.ca, timeout=10)
        return response.status_code, response.json()
    context = ssl.create_default_context(cafile=server.ca)
    connection = http.client.HTTPSConnection(
        "localhost", server.port, source_address=(source, 0), context=context, timeout=10
    )
    body = urllib.parse.urlencode(form)
    connection.request(
        "POST", f"/{CONTOSO}/oauth2/v2.0/token", body, {"Content-Type": "application/x-www-form-urlencoded"}
    )
    response = connection.getresponse()
    result = response.status, json.loads(response.read())
    connection.close()
    return result


def test_user_sign_in_refusals_and_refresh_tokens(configured_server):
    server = configured_server
    for username, password, code in [
        ("alice@contoso", "wrong-password", 50126),
        ("bob@contoso", USER_PASSWORD, 50057),
        ("nobody@contoso", USER_PASSWORD, 50034),
    ]:
        status, body = password_grant(server, username, password)
        assert (status, body["error_codes"]) == (400, [code]), username
        assert "access_token" not in body

    status, tokens = password_grant(server, "alice@contoso", USER_PASSWORD)
    assert status == 200
    assert {"access_token", "id_token", "refresh_token", "client_info"} <= tokens.keys()
    id_claims = jwt.decode(tokens["id_token"], options={"verify_signature": False})
    assert id_claims["preferred_username"] == "alice@contoso" and id_claims["aud"] == CLI_APP
    access_claims = jwt.decode(tokens["access_token"], options={"verify_signature": False})
    assert access_claims["idtyp"] == "user" and len(access_claims["groups"]) == 2

    refresh = {"grant_type": "refresh_token", "client_id": CLI_APP, "refresh_token": tokens["refresh_token"]}
    renewed = requests.post(token_endpoint(server), data=refresh, verify=server.ca, timeout=10)
    assert renewed.status_code == 200 and renewed.json()["refresh_token"] != tokens["refresh_token"]
    reused = requests.post(token_endpoint(server), data=refresh, verify=server.ca, timeout=10)
    assert (reused.status_code, reused.json()["error_codes"]) == (400, [70008]), "a refresh token works once"

    # Brute force: ten failures lock carol (and the address they came from) out, even with the right password.
    for _ in range(10):
        assert password_grant(server, "carol@contoso", "guess", source="127.0.0.6")[1]["error_codes"] == [50126]
    status, body = password_grant(server, "carol@contoso", USER_PASSWORD, source="127.0.0.6")
    assert (status, body["error_codes"]) == (400, [50053])


def test_device_code_credential(configured_server, environment):
    def sign_in_on_the_verification_page(verification_uri, user_code, expires_on):
        # What the user does in a browser: open the page, type the code and their credentials. The browser
        # keeps the page's cookie and sends its hidden fields back.
        browser = requests.Session()
        browser.verify = configured_server.ca
        page = browser.get(verification_uri, timeout=10)
        assert page.status_code == 200 and "user_code" in page.text
        form = {**hidden_fields(page.text), "user_code": user_code, "username": "alice@contoso", "password": USER_PASSWORD}
        # A form posted without the page's cookie (another site's forgery) is refused.
        forged = requests.post(verification_uri, data=form, verify=configured_server.ca, timeout=10)
        assert forged.status_code == 400 and "did not come from this server" in forged.text
        done = browser.post(verification_uri, data=form, timeout=10)
        assert done.status_code == 200, done.text

    credential = DeviceCodeCredential(
        client_id=CLI_APP,
        tenant_id=CONTOSO,
        prompt_callback=sign_in_on_the_verification_page,
        disable_instance_discovery=True,
        timeout=60,
    )
    assert read(configured_server, credential) == "seeded-value-42"


def test_interactive_browser_credential(configured_server, environment):
    browser = pathlib.Path(__file__).with_name("fake_browser.py")
    environment.setenv("BROWSER", f"{sys.executable} {browser} %s")
    environment.setenv("FAKE_BROWSER_USERNAME", "alice@contoso")
    environment.setenv("FAKE_BROWSER_PASSWORD", USER_PASSWORD)
    credential = InteractiveBrowserCredential(
        client_id=CLI_APP, tenant_id=CONTOSO, disable_instance_discovery=True, timeout=60
    )
    assert read(configured_server, credential) == "seeded-value-42"


AZURE_HOSTS = "127.0.0.3 login.microsoftonline.com billing.vault.azure.net"


@pytest.fixture
def azure_named_server(tmp_path):
    """A server answering as login.microsoftonline.com and *.vault.azure.net on port 443, with the hosts-file
    lines a user adds; only root may bind 443 and edit /etc/hosts."""
    if os.geteuid() != 0:
        pytest.skip("the Azure-hostname test binds port 443 and edits /etc/hosts, which needs root")
    config = tmp_path / "strongroom.toml"
    config.write_text(
        f"""
[server]
listen = "127.0.0.3:443"
data_dir = "{tmp_path}"
azure_hostnames = true

[[tenant]]
name = "contoso"
id = "{CONTOSO}"

[[tenant.app]]
name = "admin"
client_id = "{APPS['admin']}"
secrets = ["{app_secret('admin')}"]

[[tenant.vault]]
name = "billing"

[[tenant.vault.role_assignment]]
principal = "admin"
role = "Key Vault Secrets User"

[[tenant.vault.secret]]
name = "db-password"
value = "from-azure-names"
"""
    )
    hosts = pathlib.Path("/etc/hosts")
    original = hosts.read_text()
    server = Server(["serve", "--config", str(config)], tmp_path).start()
    try:
        hosts.write_text(original.rstrip("\n") + f"\n{AZURE_HOSTS}\n")
        yield server
    finally:
        hosts.write_text(original)
        server.stop()


def test_code_written_for_azure_runs_unchanged(azure_named_server, monkeypatch):
    for name in MI_VARIABLES + ["AZURE_AUTHORITY_HOST"]:
        monkeypatch.delenv(name, raising=False)
    # Trusting the CA is configuration, not code.
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", azure_named_server.ca)

    # Exactly what an application written for Azure does: no authority, no instance-discovery switch.
    credential = ClientSecretCredential(CONTOSO, APPS["admin"], app_secret("admin"))
    client = SecretClient("https://billing.vault.azure.net", credential)
    assert client.get_secret("db-password").value == "from-azure-names"
