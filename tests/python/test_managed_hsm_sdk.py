"""Managed HSM through the official SDKs, unmodified: azure-keyvault-administration's access control and settings
clients and azure-keyvault-keys pointed at `strongroom dev`'s HSM (AZURE_MANAGEDHSM_URI): its local role
assignments decide access, and an oct-HSM key's encryption and key wrap are checked with the `cryptography`
package."""

import os

import jwt
import pytest
from azure.core.exceptions import HttpResponseError
from azure.identity import ClientSecretCredential
from azure.keyvault.administration import (
    KeyVaultAccessControlClient,
    KeyVaultDataAction,
    KeyVaultPermission,
    KeyVaultRoleScope,
    KeyVaultSetting,
    KeyVaultSettingsClient,
)
from azure.keyvault.keys import JsonWebKey, KeyClient
from azure.keyvault.keys.crypto import CryptographyClient, EncryptionAlgorithm, KeyWrapAlgorithm
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.keywrap import aes_key_unwrap


@pytest.fixture
def hsm(dev_env):
    credential = ClientSecretCredential(
        dev_env["AZURE_TENANT_ID"], dev_env["AZURE_CLIENT_ID"], dev_env["AZURE_CLIENT_SECRET"], disable_instance_discovery=True
    )
    return dev_env["AZURE_MANAGEDHSM_URI"], credential


def object_id(credential, url):
    resource = "https://managedhsm." + url.split(".managedhsm.", 1)[1]
    token = credential.get_token(f"{resource}/.default").token
    return jwt.decode(token, options={"verify_signature": False})["oid"]


def test_local_role_assignments_decide_access_and_an_aes_key_answers_as_the_cryptography_package_does(hsm):
    url, credential = hsm
    access = KeyVaultAccessControlClient(url, credential)
    keys = KeyClient(url, credential)
    secret = os.urandom(32)
    key = keys.import_key(
        "py-aes",
        JsonWebKey(kty="oct-HSM", k=secret, key_ops=["encrypt", "decrypt", "wrapKey", "unwrapKey"]),
        hardware_protected=True,
    )
    assert key.key_type == "oct-HSM" and not key.key.k, "an AES key never leaves the HSM"

    me = object_id(credential, url)
    definitions = {d.role_name: d for d in access.list_role_definitions(KeyVaultRoleScope.GLOBAL)}
    assert {"Managed HSM Administrator", "Managed HSM Crypto User", "Managed HSM Crypto Officer"} <= set(definitions)
    mine = [a for a in access.list_role_assignments(KeyVaultRoleScope.GLOBAL) if a.properties.principal_id == me]
    key_roles = {definitions["Managed HSM Crypto User"].id, definitions["Managed HSM Crypto Officer"].id}
    taken = [a for a in mine if a.properties.role_definition_id in key_roles]
    assert len(taken) == 2
    wrapper = access.set_role_definition(
        KeyVaultRoleScope.GLOBAL,
        role_name="py-wrapper",
        description="encrypts and wraps, reads nothing",
        permissions=[
            KeyVaultPermission(
                data_actions=[
                    KeyVaultDataAction.ENCRYPT_HSM_KEY,
                    KeyVaultDataAction.DECRYPT_HSM_KEY,
                    KeyVaultDataAction.WRAP_HSM_KEY,
                    KeyVaultDataAction.UNWRAP_HSM_KEY,
                ]
            )
        ],
    )
    granted = None
    try:
        for assignment in taken:
            access.delete_role_assignment(KeyVaultRoleScope.GLOBAL, assignment.name)
        with pytest.raises(HttpResponseError) as refused:
            keys.get_key("py-aes")
        assert refused.value.status_code == 403 and refused.value.error.code == "AccessDenied"

        granted = access.create_role_assignment("/keys/py-aes", wrapper.id, me)
        assert granted.properties.scope == "/keys/py-aes"
        # The key cannot be read now, so CryptographyClient does every operation on the HSM.
        crypto = CryptographyClient(key.id, credential)
        encrypted = crypto.encrypt(EncryptionAlgorithm.a256_gcm, b"plaintext", additional_authenticated_data=b"aad")
        assert AESGCM(secret).decrypt(encrypted.iv, encrypted.ciphertext + encrypted.tag, b"aad") == b"plaintext"
        content_key = os.urandom(32)
        wrapped = crypto.wrap_key(KeyWrapAlgorithm.aes_256, content_key)
        assert aes_key_unwrap(secret, wrapped.encrypted_key) == content_key
        assert crypto.unwrap_key(KeyWrapAlgorithm.aes_256, wrapped.encrypted_key).key == content_key
    finally:
        if granted:
            access.delete_role_assignment("/keys/py-aes", granted.name)
        access.delete_role_definition(KeyVaultRoleScope.GLOBAL, wrapper.name)
        for assignment in taken:
            access.create_role_assignment(KeyVaultRoleScope.GLOBAL, assignment.properties.role_definition_id, me)
    assert keys.get_key("py-aes").name == "py-aes"


def test_settings_are_read_and_changed(hsm):
    url, credential = hsm
    settings = KeyVaultSettingsClient(url, credential)
    names = [s.name for s in settings.list_settings()]
    assert "AllowKeyManagementOperationsThroughARM" in names
    changed = settings.update_setting(KeyVaultSetting(name="AllowKeyManagementOperationsThroughARM", value=True))
    assert changed.value == "true" and changed.setting_type == "boolean"
    assert settings.get_setting("AllowKeyManagementOperationsThroughARM").value == "true"
    settings.update_setting(KeyVaultSetting(name="AllowKeyManagementOperationsThroughARM", value=False))
