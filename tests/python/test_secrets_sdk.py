"""The official Python SDKs (azure-identity + azure-keyvault-secrets), unmodified, against a real Strongroom."""

import json
import pathlib
import tempfile

import jwt
import pytest
import requests
from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceExistsError,
    ResourceNotFoundError,
)
from azure.identity import ClientSecretCredential
from azure.keyvault.secrets import SecretClient
from cryptography.hazmat.primitives.asymmetric import rsa

from conftest import (
    APPS,
    CONTOSO,
    FABRIKAM,
    HOST_OVERRIDES,
    PRIVATE_ENDPOINT,
    app_secret,
    read_env_file,
    start_dev,
    strongroom_cli,
)


def credential_for(server, app, tenant=CONTOSO):
    return ClientSecretCredential(
        tenant,
        APPS[app],
        app_secret(app),
        authority=f"https://localhost:{server.port}",
        disable_instance_discovery=True,
        connection_verify=server.ca,
    )


def client_for(server, app, tenant=CONTOSO, vault="billing"):
    url = f"https://{vault}.vault.localhost:{server.port}"
    return SecretClient(url, credential_for(server, app, tenant), connection_verify=server.ca)


def test_a_user_of_strongroom_dev_sets_gets_and_lists_secrets(dev_env):
    # Exactly what a user does after `source dev.env`: credentials, authority and CA come from the environment.
    credential = ClientSecretCredential(
        dev_env["AZURE_TENANT_ID"],
        dev_env["AZURE_CLIENT_ID"],
        dev_env["AZURE_CLIENT_SECRET"],
        disable_instance_discovery=True,
    )
    client = SecretClient(dev_env["VAULT_URL"], credential)

    first = client.set_secret("conformance", "value-1", content_type="text/plain", tags={"env": "test"})
    second = client.set_secret("conformance", "value-2")
    assert first.value == "value-1" and first.properties.content_type == "text/plain"
    assert first.properties.tags == {"env": "test"}
    assert first.properties.version != second.properties.version

    assert client.get_secret("conformance").value == "value-2"
    assert client.get_secret("conformance", first.properties.version).value == "value-1"
    assert client.get_secret("CONFORMANCE").name == "conformance"

    for i in range(5):
        client.set_secret(f"paged-{i}", f"v{i}")
    pages = [list(page) for page in client.list_properties_of_secrets(max_page_size=2).by_page()]
    assert len(pages) >= 3 and all(len(page) <= 2 for page in pages)
    names = [item.name for page in pages for item in page]
    assert {"conformance", "paged-0", "paged-4"} <= set(names)
    assert len(names) == len(set(names))

    versions = list(client.list_properties_of_secret_versions("conformance", max_page_size=1))
    assert sorted(v.version for v in versions) == sorted([first.properties.version, second.properties.version])

    with pytest.raises(ResourceNotFoundError) as missing:
        client.get_secret("never-set")
    assert missing.value.error.code == "SecretNotFound"


def test_a_wrong_client_secret_is_reported_with_its_aadsts_code(dev_env):
    credential = ClientSecretCredential(
        dev_env["AZURE_TENANT_ID"], dev_env["AZURE_CLIENT_ID"], "not-the-secret", disable_instance_discovery=True
    )
    with pytest.raises(ClientAuthenticationError) as failure:
        SecretClient(dev_env["VAULT_URL"], credential).get_secret("anything")
    assert "AADSTS7000215" in str(failure.value)


def forbidden_code(call):
    with pytest.raises(HttpResponseError) as failure:
        call()
    assert failure.value.status_code == 403
    return failure.value.response.json()["error"]["innererror"]["code"]


def test_roles_decide_what_each_application_may_do(configured_server):
    nobody = client_for(configured_server, "nobody")
    assert forbidden_code(lambda: nobody.get_secret("db-password")) == "ForbiddenByRbac"

    user = client_for(configured_server, "secrets-user")
    assert user.get_secret("db-password").value == "seeded-value-42"
    assert forbidden_code(lambda: user.set_secret("new", "x")) == "ForbiddenByRbac"

    reader = client_for(configured_server, "reader")
    assert "db-password" in [s.name for s in reader.list_properties_of_secrets()]
    assert forbidden_code(lambda: reader.get_secret("db-password")) == "ForbiddenByRbac"

    admin = client_for(configured_server, "admin")
    assert admin.set_secret("by-admin", "ok").value == "ok"


def raw_vault_get(server, token):
    return requests.get(
        f"https://billing.vault.localhost:{server.port}/secrets/db-password?api-version=7.6",
        headers={"Authorization": f"Bearer {token}"},
        verify=server.ca,
        timeout=10,
    )


def real_token(server, app="admin", tenant=CONTOSO):
    return credential_for(server, app, tenant).get_token(f"https://vault.localhost:{server.port}/.default").token


def test_a_token_re_signed_by_another_key_is_refused(configured_server):
    genuine = real_token(configured_server)
    assert raw_vault_get(configured_server, genuine).status_code == 200
    claims = jwt.decode(genuine, options={"verify_signature": False})
    header = jwt.get_unverified_header(genuine)
    impostor = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = jwt.encode(claims, impostor, algorithm="RS256", headers={"kid": header["kid"]})
    response = raw_vault_get(configured_server, forged)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer authorization=")


def test_a_token_of_another_tenant_is_refused(configured_server):
    foreign = real_token(configured_server, app="outsider", tenant=FABRIKAM)
    response = raw_vault_get(configured_server, foreign)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "Unauthorized"


def dev_client(server):
    """A client configured from the dev instance's env file, with explicit CA trust."""
    env = read_env_file(server.data_dir / "dev.env")
    credential = ClientSecretCredential(
        env["AZURE_TENANT_ID"],
        env["AZURE_CLIENT_ID"],
        env["AZURE_CLIENT_SECRET"],
        authority=env["AZURE_AUTHORITY_HOST"],
        disable_instance_discovery=True,
        connection_verify=server.ca,
    )
    return SecretClient(env["VAULT_URL"], credential, connection_verify=server.ca)


def test_secrets_survive_a_restart_and_are_not_stored_in_clear():
    with tempfile.TemporaryDirectory() as data_dir:
        server = start_dev(data_dir)
        try:
            dev_client(server).set_secret("durable", "canary-9d2f41-plaintext")
            server.stop()
            # Same tenant, application and secret after the restart; only the port is new.
            server.start()
            assert dev_client(server).get_secret("durable").value == "canary-9d2f41-plaintext"
        finally:
            server.stop()
        for path in pathlib.Path(data_dir).iterdir():
            if path.name.startswith("strongroom.db"):
                assert b"canary-9d2f41" not in path.read_bytes(), f"{path.name} holds the value in clear"


def test_every_secret_client_method(configured_server):
    client = client_for(configured_server, "admin")
    first = client.set_secret("lifecycle", "v1", tags={"stage": "one"})
    second = client.set_secret("lifecycle", "v2")

    updated = client.update_secret_properties(
        "lifecycle", first.properties.version, content_type="text/plain", tags={"stage": "updated"}
    )
    assert (updated.content_type, updated.tags, updated.version) == (
        "text/plain",
        {"stage": "updated"},
        first.properties.version,
    )
    client.update_secret_properties("lifecycle", enabled=False)
    with pytest.raises(HttpResponseError) as disabled:
        client.get_secret("lifecycle")
    assert (disabled.value.status_code, disabled.value.error.code) == (403, "Forbidden")
    client.update_secret_properties("lifecycle", second.properties.version, enabled=True)

    backup = client.backup_secret("lifecycle")
    assert isinstance(backup, bytes) and backup

    deletion = client.begin_delete_secret("lifecycle")
    deleted = deletion.result()
    deletion.wait()
    assert deleted.recovery_id.endswith("/deletedsecrets/lifecycle")
    assert deleted.scheduled_purge_date > deleted.deleted_date
    assert client.get_deleted_secret("lifecycle").name == "lifecycle"
    assert "lifecycle" in [s.name for s in client.list_deleted_secrets()]
    with pytest.raises(ResourceExistsError):
        client.set_secret("lifecycle", "while deleted")

    client.begin_recover_deleted_secret("lifecycle").wait()
    assert client.get_secret("lifecycle").value == "v2"

    client.begin_delete_secret("lifecycle").wait()
    client.purge_deleted_secret("lifecycle")
    with pytest.raises(ResourceNotFoundError):
        client.get_deleted_secret("lifecycle")

    restored = client.restore_secret_backup(backup)
    assert restored.name == "lifecycle"
    assert client.get_secret("lifecycle", first.properties.version).value == "v1"
    assert sorted(v.version for v in client.list_properties_of_secret_versions("lifecycle")) == sorted(
        [first.properties.version, second.properties.version]
    )
    with pytest.raises(ResourceExistsError):
        client.restore_secret_backup(backup)
    client.close()


def test_a_private_endpoint_reaches_a_vault_without_public_access(configured_server):
    with pytest.raises(HttpResponseError) as blocked:
        client_for(configured_server, "admin", vault="private").get_secret("inside")
    assert blocked.value.status_code == 403
    assert blocked.value.response.json()["error"]["innererror"]["code"] == "ForbiddenByFirewall"

    # As with Azure Private Link, the vault's name now resolves to the private endpoint's address.
    HOST_OVERRIDES["private.vault.localhost"] = PRIVATE_ENDPOINT
    try:
        secret = client_for(configured_server, "admin", vault="private").get_secret("inside")
        assert secret.value == "reached-privately"
    finally:
        del HOST_OVERRIDES["private.vault.localhost"]


def test_an_assignment_made_and_removed_with_the_cli_decides_the_next_read(configured_server):
    client = client_for(configured_server, "nobody")
    assert forbidden_code(lambda: client.get_secret("db-password")) == "ForbiddenByRbac"
    scope = "vaults/billing/secrets/db-password"
    created = json.loads(
        strongroom_cli(
            configured_server, "role", "assignment", "create",
            "--assignee", "nobody", "--role", "Key Vault Secrets User", "--scope", scope,
        )
    )
    assert created["properties"]["principalId"]
    assert client.get_secret("db-password").value == "seeded-value-42"
    assert forbidden_code(lambda: client.get_secret("neighbour")) == "ForbiddenByRbac"

    strongroom_cli(
        configured_server, "role", "assignment", "delete",
        "--assignee", "nobody", "--role", "Key Vault Secrets User", "--scope", scope,
    )
    # No restart, and the credential's cached token is the same: the very next read is refused.
    assert forbidden_code(lambda: client.get_secret("db-password")) == "ForbiddenByRbac"


def test_an_assignment_on_one_secret_does_not_reach_its_neighbour(configured_server):
    client = client_for(configured_server, "scoped")
    assert client.get_secret("db-password").value == "seeded-value-42"
    assert forbidden_code(lambda: client.get_secret("neighbour")) == "ForbiddenByRbac"
    assert forbidden_code(lambda: list(client.list_properties_of_secrets())) == "ForbiddenByRbac"
