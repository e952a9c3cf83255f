"""Sign-in for developer tools, through the official azure-identity and MSAL libraries: the Azure CLI's
well-known client id at `organizations` (a username/password and a device-code sign-in), the accounts MSAL keeps
and removes as `az logout` does, and Graph called with `requests` as the CLI calls it.

The server runs on a loopback address of its own (127.0.0.21) with its own host names, so that it can also
listen on port 443 there — MSAL's user-realm lookup always goes to port 443 — without meeting another suite's
server on 127.0.0.1:443.
"""

import base64
import json
import tempfile
import textwrap
import urllib.parse

import msal
import pytest
import requests
from azure.core.exceptions import ClientAuthenticationError, HttpResponseError
from azure.identity import DeviceCodeCredential, UsernamePasswordCredential
from azure.keyvault.secrets import SecretClient

from conftest import HOST_OVERRIDES, Server, server_section
from fake_browser import hidden_fields

AZURE_CLI = "04b07795-8ddb-461a-bbee-02f9e1bf7b46"
ADDRESS = "127.0.0.21"
LOGIN_HOST = "login-tools.localhost"
VAULT_DOMAIN = "vault-tools.localhost"
GRAPH_HOST = "graph-tools.localhost"
CONTOSO = "3c0a7f52-1b2e-4d6a-9e8f-0a1b2c3d4e51"
FABRIKAM = "3c0a7f52-1b2e-4d6a-9e8f-0a1b2c3d4e52"
PARTNER_APP = "3c0a7f52-1b2e-4d6a-9e8f-0a1b2c3d4e60"
PASSWORD = "Correct-Horse-7"
GRAPH = "https://graph.microsoft.com/.default"

CONFIG = f"""
[[tenant]]
name = "contoso"
id = "{CONTOSO}"

[[tenant.user]]
name = "alice"
password = "{PASSWORD}"

[[tenant.user]]
name = "carol"
password = "{PASSWORD}"

[[tenant.role_assignment]]
principal = "carol"
role = "Global Administrator"

[[tenant.app]]
name = "payroll"
secrets = ["payroll-secret-0123456789"]

[[tenant.vault]]
name = "tools"

[[tenant.vault.role_assignment]]
principal = "alice"
role = "Key Vault Secrets User"

[[tenant.vault.secret]]
name = "greeting"
value = "hello-from-contoso"

[[tenant]]
name = "fabrikam"
id = "{FABRIKAM}"

[[tenant.user]]
name = "bob"
password = "{PASSWORD}"

[[tenant.app]]
name = "partner"
client_id = "{PARTNER_APP}"
secrets = ["partner-secret-0123456789"]
sign_in_audience = "multiple_tenants"
"""


@pytest.fixture(scope="module")
def tools_server():
    HOST_OVERRIDES[LOGIN_HOST] = ADDRESS
    HOST_OVERRIDES[f"tools.{VAULT_DOMAIN}"] = ADDRESS
    HOST_OVERRIDES[GRAPH_HOST] = ADDRESS
    with tempfile.TemporaryDirectory() as data_dir:
        section = server_section(data_dir, f'["{ADDRESS}:0", "{ADDRESS}:443"]')
        section = section.replace('login_host = "localhost"', f'login_host = "{LOGIN_HOST}"')
        section = section.replace(
            'vault_domain = "vault.localhost"', f'vault_domain = "{VAULT_DOMAIN}"\ngraph_host = "{GRAPH_HOST}"'
        )
        path = f"{data_dir}/strongroom.toml"
        with open(path, "w") as file:
            file.write(section + textwrap.dedent(CONFIG))
        server = Server(["serve", "--config", path], data_dir).start()
        server.authority = f"https://{LOGIN_HOST}:{server.port}"
        server.graph = f"https://{GRAPH_HOST}:{server.port}"
        try:
            yield server
        finally:
            server.stop()


@pytest.fixture(autouse=True)
def trust_the_server(tools_server, monkeypatch):
    """The machine trusts the installation's CA (a `requests` session otherwise takes the system bundle)."""
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", tools_server.ca)


def claims(token):
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def read_greeting(server, credential):
    client = SecretClient(f"https://tools.{VAULT_DOMAIN}:{server.port}", credential, connection_verify=server.ca)
    return client.get_secret("greeting").value


def cli_credential(server, username):
    return UsernamePasswordCredential(
        AZURE_CLI,
        username,
        PASSWORD,
        tenant_id="organizations",
        authority=server.authority,
        # The vault's challenge names its tenant; the credential signs in there as the CLI does per tenant.
        additionally_allowed_tenants=["*"],
        disable_instance_discovery=True,
        connection_verify=server.ca,
    )


def test_username_password_with_the_azure_cli_client_through_organizations(tools_server):
    credential = cli_credential(tools_server, "alice@contoso")
    # At `organizations` (no tenant asked for): the user's own tenant.
    token = credential.get_token(f"https://{VAULT_DOMAIN}:{tools_server.port}/.default").token
    assert claims(token)["tid"] == CONTOSO and claims(token)["appid"] == AZURE_CLI
    assert read_greeting(tools_server, credential) == "hello-from-contoso"

    # Another tenant's user through the same authority gets a token of that tenant, and reads nothing here.
    bob = cli_credential(tools_server, "bob@fabrikam")
    assert claims(bob.get_token(GRAPH).token)["tid"] == FABRIKAM
    # (The vault's challenge names contoso; bob is no user of it.)
    with pytest.raises(HttpResponseError):
        read_greeting(tools_server, bob)

    with pytest.raises(ClientAuthenticationError) as wrong:
        UsernamePasswordCredential(
            AZURE_CLI, "alice@contoso", "wrong-password", tenant_id="organizations", authority=tools_server.authority,
            disable_instance_discovery=True, connection_verify=tools_server.ca,
        ).get_token(GRAPH)
    assert "AADSTS50126" in str(wrong.value)


def test_device_code_with_the_azure_cli_client_through_organizations(tools_server):
    def sign_in(verification_uri, user_code, expires_on):
        browser = requests.Session()
        browser.verify = tools_server.ca
        page = browser.get(verification_uri, timeout=10)
        form = {**hidden_fields(page.text), "user_code": user_code, "username": "alice@contoso", "password": PASSWORD}
        done = browser.post(verification_uri, data=form, timeout=10)
        assert done.status_code == 200, done.text

    credential = DeviceCodeCredential(
        client_id=AZURE_CLI,
        tenant_id="organizations",
        authority=tools_server.authority,
        prompt_callback=sign_in,
        additionally_allowed_tenants=["*"],
        disable_instance_discovery=True,
        connection_verify=tools_server.ca,
        timeout=60,
    )
    token = credential.get_token(GRAPH).token
    assert claims(token)["tid"] == CONTOSO and claims(token)["appid"] == AZURE_CLI
    assert read_greeting(tools_server, credential) == "hello-from-contoso"


def test_accounts_are_kept_and_removed_as_az_logout_does(tools_server):
    # `az logout` builds a public client at `organizations` and removes the user's accounts from its cache.
    session = requests.Session()
    session.verify = tools_server.ca
    app = msal.PublicClientApplication(
        AZURE_CLI,
        authority=f"{tools_server.authority}/organizations",
        instance_discovery=False,
        http_client=session,
    )
    result = app.acquire_token_by_username_password("alice@contoso", PASSWORD, scopes=[GRAPH])
    assert "access_token" in result, result
    accounts = app.get_accounts(username="alice@contoso")
    assert len(accounts) == 1 and accounts[0]["home_account_id"].endswith(CONTOSO)
    silent = app.acquire_token_silent([GRAPH], account=accounts[0], force_refresh=True)
    assert silent and "access_token" in silent, silent
    for account in accounts:
        app.remove_account(account)
    assert app.get_accounts(username="alice@contoso") == []
    # `common` and `consumers` are authorities MSAL can be built on; consumers signs in no work account.
    msal.PublicClientApplication(AZURE_CLI, authority=f"{tools_server.authority}/common", instance_discovery=False, http_client=session)
    consumers = msal.PublicClientApplication(
        AZURE_CLI, authority=f"{tools_server.authority}/consumers", instance_discovery=False, http_client=session
    )
    refused = consumers.acquire_token_by_username_password("alice@contoso", PASSWORD, scopes=[GRAPH])
    assert "access_token" not in refused and 50020 in refused.get("error_codes", []), refused


def graph(server, token, method, path, body=None):
    response = requests.request(
        method,
        f"{server.graph}/v1.0{path}",
        headers={"Authorization": f"Bearer {token}"},
        json=body,
        verify=server.ca,
        timeout=10,
    )
    return response.status_code, (response.json() if response.text else None)


def filtered(path, expression):
    return f"{path}?$filter={urllib.parse.quote(expression, safe='')}"


def test_graph_as_the_cli_calls_it(tools_server):
    # The CLI asks for `{graph}/.default` of the Graph URL its cloud names (`{graph}/`, hence the double slash).
    scope = f"{tools_server.graph}//.default"
    carol = cli_credential(tools_server, "carol@contoso").get_token(scope).token
    alice = cli_credential(tools_server, "alice@contoso").get_token(scope).token
    assert claims(carol)["aud"] == tools_server.graph

    status, me = graph(tools_server, alice, "GET", "/me")
    assert status == 200 and me["userPrincipalName"] == "alice@contoso"

    # `az role assignment create --assignee alice@contoso`: a user principal name, then the object id.
    status, users = graph(tools_server, carol, "GET", filtered("/users", "userPrincipalName eq 'alice@contoso'"))
    assert status == 200 and [u["id"] for u in users["value"]] == [me["id"]]
    status, stubs = graph(
        tools_server, carol, "POST", "/directoryObjects/getByIds",
        {"ids": [me["id"]], "types": ["user", "group", "servicePrincipal", "directoryObjectPartnerReference"]},
    )
    assert status == 200 and stubs["value"][0]["@odata.type"] == "#microsoft.graph.user"

    # `az ad sp create --id <partner's appId>`: a service principal of fabrikam's multi-tenant application.
    status, sp = graph(tools_server, carol, "POST", "/servicePrincipals", {"appId": PARTNER_APP, "accountEnabled": True})
    assert status == 201, sp
    assert sp["appOwnerOrganizationId"] == FABRIKAM and sp["servicePrincipalNames"] == [PARTNER_APP]
    status, found = graph(tools_server, carol, "GET", filtered("/servicePrincipals", f"servicePrincipalNames/any(c:c eq '{PARTNER_APP}')"))
    assert [s["id"] for s in found["value"]] == [sp["id"]]
    status, same = graph(tools_server, carol, "GET", f"/servicePrincipals(appId='{PARTNER_APP}')")
    assert status == 200 and same["id"] == sp["id"]

    # Paging as `az ad sp list --all` follows it.
    url, seen = f"{tools_server.graph}/v1.0/servicePrincipals?$top=1", []
    while url:
        page = requests.get(url, headers={"Authorization": f"Bearer {carol}"}, verify=tools_server.ca, timeout=10).json()
        seen += [s["id"] for s in page["value"]]
        url = page.get("@odata.nextLink")
        assert url is None or url.startswith(f"{tools_server.graph}/v1.0/servicePrincipals?")
    assert sp["id"] in seen and len(seen) == len(set(seen)) >= 2

    # alice holds no directory role: she can neither create nor delete service principals.
    status, refused = graph(tools_server, alice, "DELETE", f"/servicePrincipals/{sp['id']}")
    assert status == 403 and refused["error"]["code"] == "Authorization_RequestDenied"
    status, _ = graph(tools_server, alice, "POST", "/servicePrincipals", {"appId": PARTNER_APP})
    assert status == 403

    status, _ = graph(tools_server, carol, "DELETE", f"/servicePrincipals/{sp['id']}")
    assert status == 204
    status, _ = graph(tools_server, carol, "GET", f"/servicePrincipals/{sp['id']}")
    assert status == 404

    # fabrikam's user sees none of contoso's objects.
    bob = cli_credential(tools_server, "bob@fabrikam").get_token(scope).token
    status, _ = graph(tools_server, bob, "GET", f"/users/{me['id']}")
    assert status in (403, 404)
