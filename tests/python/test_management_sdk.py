"""The official management SDKs (azure-mgmt-resource, azure-mgmt-resource-subscriptions, azure-mgmt-keyvault,
azure-mgmt-authorization), unmodified, against Strongroom's Resource Manager: the subscription found by listing,
a resource group and a vault made in it, vaults listed by subscription, a role assigned on the vault and used on
the data plane, a deleted vault listed, recovered and purged, and a Managed HSM made, administered on its own data
plane by its initial administrator, deleted, recovered and purged."""

import base64
import json
import uuid

import pytest
from azure.core.exceptions import ResourceNotFoundError
from azure.identity import ClientSecretCredential
from azure.keyvault.administration import KeyVaultAccessControlClient, KeyVaultRoleScope
from azure.keyvault.secrets import SecretClient
from azure.keyvault.securitydomain import SecurityDomainClient
from azure.mgmt.authorization import AuthorizationManagementClient
from azure.mgmt.keyvault import KeyVaultManagementClient
from azure.mgmt.keyvault.models import (
    ManagedHsm,
    ManagedHsmProperties,
    ManagedHsmSku,
    Sku,
    VaultCreateOrUpdateParameters,
    VaultPatchParameters,
    VaultProperties,
)
from azure.mgmt.resource.resources import ResourceManagementClient
from azure.mgmt.resource.subscriptions import SubscriptionClient

from conftest import APPS, CONTOSO, app_secret
from wrapping_keys import download_security_domain

SCOPE = "https://management.azure.com/.default"


class Management:
    """The management clients of the contoso administrator (an Owner), pointed at the server."""

    def __init__(self, server):
        self.server = server
        self.credential = ClientSecretCredential(
            CONTOSO,
            APPS["admin"],
            app_secret("admin"),
            authority=f"https://localhost:{server.port}",
            disable_instance_discovery=True,
            connection_verify=server.ca,
        )
        options = {"base_url": f"https://localhost:{server.port}", "credential_scopes": [SCOPE]}
        subscriptions = list(SubscriptionClient(self.credential, **options).subscriptions.list())
        assert len(subscriptions) == 1, subscriptions
        self.subscription = subscriptions[0]
        subscription_id = self.subscription.subscription_id
        self.resources = ResourceManagementClient(self.credential, subscription_id, **options)
        keyvault = KeyVaultManagementClient(self.credential, subscription_id, **options)
        self.vaults = keyvault.vaults
        self.managed_hsms = keyvault.managed_hsms
        self.authorization = AuthorizationManagementClient(self.credential, subscription_id, **options)

    def object_id(self):
        """The administrator's object id, from its own token."""
        token = self.credential.get_token(SCOPE).token
        payload = token.split(".")[1]
        return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["oid"]


@pytest.fixture
def management(configured_server, monkeypatch):
    # The management clients verify TLS with requests' default bundle, which this variable names.
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", configured_server.ca)
    return Management(configured_server)


def vault_parameters(sku="standard", **properties):
    return VaultCreateOrUpdateParameters(
        location="local",
        tags={"env": "test"},
        properties=VaultProperties(tenant_id=CONTOSO, sku=Sku(family="A", name=sku), **properties),
    )


def test_a_resource_group_and_a_vault_are_made_listed_and_granted(management):
    assert management.subscription.tenant_id == CONTOSO
    groups = management.resources.resource_groups
    group = groups.create_or_update("sdk-group", {"location": "local", "tags": {"suite": "python"}})
    assert (group.name, group.location, group.tags) == ("sdk-group", "local", {"suite": "python"})
    assert groups.check_existence("sdk-group") and not groups.check_existence("no-such-group")
    assert "sdk-group" in [g.name for g in groups.list()]

    vault = management.vaults.begin_create_or_update(
        "sdk-group", "sdk-vault", vault_parameters("premium", enable_rbac_authorization=True)
    ).result()
    assert vault.properties.sku.name.lower() == "premium"
    assert vault.properties.vault_uri.startswith("https://sdk-vault.vault.localhost")
    assert vault.id.endswith("/resourceGroups/sdk-group/providers/Microsoft.KeyVault/vaults/sdk-vault")
    assert "sdk-vault" in [v.name for v in management.vaults.list_by_subscription()]
    assert "sdk-vault" in [v.name for v in management.vaults.list()]
    assert [v.name for v in management.vaults.list_by_resource_group("sdk-group")] == ["sdk-vault"]
    updated = management.vaults.update("sdk-group", "sdk-vault", VaultPatchParameters(tags={"env": "prod"}))
    assert updated.tags == {"env": "prod"}
    taken = management.vaults.check_name_availability({"name": "sdk-vault", "type": "Microsoft.KeyVault/vaults"})
    assert not taken.name_available

    # A role on the vault, assigned through the SDK, decides the very next data-plane request.
    role = next(iter(management.authorization.role_definitions.list(vault.id, filter="roleName eq 'Key Vault Secrets Officer'")))
    management.authorization.role_assignments.create(
        vault.id,
        str(uuid.uuid4()),
        {"role_definition_id": role.id, "principal_id": management.object_id()},
    )
    secrets = SecretClient(vault.properties.vault_uri, management.credential, connection_verify=management.server.ca)
    secrets.set_secret("made-by-sdk", "value-1")
    assert secrets.get_secret("made-by-sdk").value == "value-1"

    # Deleting the group deletes its vault, which stays recoverable.
    management.resources.resource_groups.begin_delete("sdk-group").result()
    assert not groups.check_existence("sdk-group")
    assert "sdk-vault" in [v.name for v in management.vaults.list_deleted()]


def test_a_deleted_vault_is_listed_recovered_and_purged(management):
    vaults = management.vaults
    vaults.begin_create_or_update("strongroom", "sdk-doomed", vault_parameters()).result()
    vaults.delete("strongroom", "sdk-doomed")
    with pytest.raises(ResourceNotFoundError):
        vaults.get("strongroom", "sdk-doomed")
    deleted = vaults.get_deleted("sdk-doomed", "local")
    assert deleted.properties.vault_id.endswith("/vaults/sdk-doomed")
    assert "sdk-doomed" in [v.name for v in vaults.list_deleted()]

    recovered = vaults.begin_create_or_update(
        "strongroom", "sdk-doomed", vault_parameters(create_mode="recover")
    ).result()
    assert recovered.name == "sdk-doomed"
    assert vaults.get("strongroom", "sdk-doomed").properties.sku.name.lower() == "standard"

    vaults.delete("strongroom", "sdk-doomed")
    vaults.begin_purge_deleted("sdk-doomed", "local").result()
    with pytest.raises(ResourceNotFoundError):
        vaults.get_deleted("sdk-doomed", "local")
    assert vaults.check_name_availability({"name": "sdk-doomed", "type": "Microsoft.KeyVault/vaults"}).name_available


def test_a_managed_hsm_is_made_administered_deleted_recovered_and_purged(management, tmp_path):
    hsms = management.managed_hsms
    admin = management.object_id()
    properties = ManagedHsmProperties(
        tenant_id=CONTOSO, initial_admin_object_ids=[admin], soft_delete_retention_in_days=7
    )
    parameters = ManagedHsm(location="local", sku=ManagedHsmSku(family="B", name="Standard_B1"), properties=properties)
    hsm = hsms.begin_create_or_update("strongroom", "sdk-hsm", parameters).result()
    assert hsm.properties.provisioning_state == "Succeeded"
    assert hsm.properties.hsm_uri.startswith("https://sdk-hsm.managedhsm.localhost")
    assert hsm.properties.initial_admin_object_ids == [admin]
    assert hsms.get("strongroom", "sdk-hsm").id == hsm.id
    assert "sdk-hsm" in [h.name for h in hsms.list_by_subscription()]
    assert "sdk-hsm" in [h.name for h in hsms.list_by_resource_group("strongroom")]
    assert "sdk-hsm" not in [v.name for v in management.vaults.list_by_subscription()]
    updated = hsms.begin_update("strongroom", "sdk-hsm", ManagedHsm(tags={"env": "prod"})).result()
    assert updated.tags == {"env": "prod"}
    assert not hsms.check_mhsm_name_availability({"name": "sdk-hsm"}).name_available

    # New, it is not activated; the administrator activates it by downloading its security domain.
    assert hsm.properties.security_domain_properties.activation_status == "NotActivated"
    client = SecurityDomainClient(hsm.properties.hsm_uri, management.credential, connection_verify=management.server.ca)
    download_security_domain(client, tmp_path)
    assert hsms.get("strongroom", "sdk-hsm").properties.security_domain_properties.activation_status == "Active"

    # The initial administrator manages the HSM's local RBAC through the data-plane SDK.
    access = KeyVaultAccessControlClient(hsm.properties.hsm_uri, management.credential, connection_verify=management.server.ca)
    assignments = access.list_role_assignments(KeyVaultRoleScope.GLOBAL)
    assert [(a.properties.principal_id, a.properties.scope) for a in assignments] == [(admin, "/")]

    hsms.begin_delete("strongroom", "sdk-hsm").result()
    assert hsms.get_deleted("sdk-hsm", "local").properties.mhsm_id == hsm.id
    assert "sdk-hsm" in [h.name for h in hsms.list_deleted()]
    recovered = hsms.begin_create_or_update(
        "strongroom", "sdk-hsm", ManagedHsm(location="local", properties=ManagedHsmProperties(create_mode="recover"))
    ).result()
    assert recovered.properties.hsm_uri == hsm.properties.hsm_uri
    hsms.begin_delete("strongroom", "sdk-hsm").result()
    hsms.begin_purge_deleted("sdk-hsm", "local").result()
    with pytest.raises(ResourceNotFoundError):
        hsms.get_deleted("sdk-hsm", "local")
    assert hsms.check_mhsm_name_availability({"name": "sdk-hsm"}).name_available
