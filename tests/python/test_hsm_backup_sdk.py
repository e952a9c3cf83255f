"""Managed HSM full backup and restore with the official, unmodified azure-keyvault-administration SDK
(`KeyVaultBackupClient`): begin_backup to a declared storage target, begin_restore into a fresh HSM, and
begin_restore with key_name for one key. The restored keys are used with azure-keyvault-keys and the results
checked against what the original keys did.

A backup restores only where its keys open: into an HSM of the security domain it was made in. The fresh HSM gets
the source's security domain as operators give it one, with the official azure-keyvault-securitydomain SDK
(`SecurityDomainClient`): a download of the source's, a restore blob for the fresh HSM's transfer key, an upload."""

import base64
import hashlib
import json
import pathlib
import tempfile
import textwrap
import uuid

import pytest
from azure.core.exceptions import HttpResponseError
from azure.keyvault.administration import KeyVaultAccessControlClient, KeyVaultBackupClient, KeyVaultRoleScope
from azure.keyvault.keys import KeyClient
from azure.keyvault.keys.crypto import CryptographyClient, EncryptionAlgorithm, SignatureAlgorithm
from azure.keyvault.securitydomain import SecurityDomainClient

from conftest import LIMITS_OFF, ONE_PORT, server_section, serving, standard_tenants
from test_secrets_sdk import credential_for
from wrapping_keys import download_security_domain, security_domain_example

CONTAINER = "https://backups.blob.localhost/hsm"
# A container SAS token as the Azure portal makes one; Strongroom knows only its SHA-256.
SAS = "sv=2024-08-04&sr=c&sp=racwdl&se=2030-01-01T00:00:00Z&spr=https&sig=c2lnbmF0dXJlLWZvci10ZXN0cw%3D"


def hsm_section(name, activated):
    return textwrap.dedent(
        f"""
        [[tenant.managed_hsm]]
        name = "{name}"
        administrators = ["admin"]
        activated = {str(activated).lower()}

        [[tenant.managed_hsm.role_assignment]]
        principal = "admin"
        role = "Managed HSM Crypto User"

        [[tenant.managed_hsm.role_assignment]]
        principal = "admin"
        role = "Managed HSM Crypto Officer"

        [[tenant.managed_hsm.role_assignment]]
        principal = "nobody"
        role = "Managed HSM Crypto Officer"
        """
    )


@pytest.fixture(scope="module")
def hsm_server():
    with tempfile.TemporaryDirectory() as data_dir:
        storage = pathlib.Path(data_dir) / "hsm-backups"
        config = (
            server_section(data_dir, ONE_PORT)
            + standard_tenants()
            # pyhsmone and pyhsmthree serve at once, each with a security domain of its own; pyhsmtwo is new.
            + hsm_section("pyhsmone", True)
            + hsm_section("pyhsmtwo", False)
            + hsm_section("pyhsmthree", True)
            + textwrap.dedent(
                f"""
                [[backup_storage]]
                url = "{CONTAINER}"
                directory = "{storage}"
                sas_token_sha256 = ["{hashlib.sha256(SAS.encode()).hexdigest()}"]
                managed_identity_hsms = ["pyhsmone"]
                """
            )
            + LIMITS_OFF
        )
        with serving(data_dir, config) as server:
            server.storage = storage
            yield server


def hsm_url(server, hsm):
    return f"https://{hsm}.managedhsm.localhost:{server.port}"


def backup_client(server, hsm, app="admin"):
    return KeyVaultBackupClient(hsm_url(server, hsm), credential_for(server, app), connection_verify=server.ca)


def key_client(server, hsm):
    return KeyClient(hsm_url(server, hsm), credential_for(server, "admin"), connection_verify=server.ca)


def crypto(server, key):
    return CryptographyClient(key, credential_for(server, "admin"), connection_verify=server.ca)


def access_client(server, hsm):
    return KeyVaultAccessControlClient(hsm_url(server, hsm), credential_for(server, "admin"), connection_verify=server.ca)


def security_domain_client(server, hsm):
    return SecurityDomainClient(hsm_url(server, hsm), credential_for(server, "admin"), connection_verify=server.ca)


def share_security_domain(server, source, target, folder):
    """Gives `target` the security domain of `source`: three operators download it with a quorum of two, two of
    them make the restore blob for `target`'s transfer key (what `az keyvault security-domain restore-blob` does,
    here by Strongroom's test example; test_azure_cli.py does it with the CLI), and it is uploaded."""
    domain, operators = download_security_domain(security_domain_client(server, source), folder)
    (folder / "sd.json").write_text(domain)
    target_client = security_domain_client(server, target)
    transfer = json.loads(target_client.get_transfer_key()["transfer_key"])
    (folder / "transfer.der").write_bytes(base64.b64decode(transfer["x5c"][0]))
    code, blob, err = security_domain_example(
        "restore-blob", folder / "sd.json", folder / "transfer.der", *(k.with_suffix("") for k in operators[:2])
    )
    assert code == 0, err
    target_client.begin_upload({"value": blob}).result()


def test_a_full_backup_restores_every_key_into_a_fresh_hsm_and_one_key_on_its_own(hsm_server, tmp_path):
    source = key_client(hsm_server, "pyhsmone")
    rsa = source.create_rsa_key("py-rsa", size=2048, hardware_protected=True)
    source.rotate_key("py-rsa")
    ec = source.create_ec_key("py-ec", curve="P-256", hardware_protected=True)
    aes = source.create_oct_key("py-aes", size=256, hardware_protected=True)
    plaintext = b"a full backup gives this back"
    rsa_sealed = crypto(hsm_server, rsa).encrypt(EncryptionAlgorithm.rsa_oaep_256, plaintext).ciphertext
    digest = hashlib.sha256(b"signed before the backup").digest()
    signature = crypto(hsm_server, ec).sign(SignatureAlgorithm.es256, digest).signature
    gcm = crypto(hsm_server, aes).encrypt(EncryptionAlgorithm.a256_gcm, plaintext)
    # A role assignment at /keys, which the backup carries with the keys.
    auditor = next(d for d in access_client(hsm_server, "pyhsmone").list_role_definitions(KeyVaultRoleScope.GLOBAL)
                   if d.role_name == "Managed HSM Crypto Auditor")
    someone = str(uuid.uuid4())
    access_client(hsm_server, "pyhsmone").create_role_assignment(KeyVaultRoleScope.KEYS, auditor.id, someone)

    result = backup_client(hsm_server, "pyhsmone").begin_backup(CONTAINER, sas_token=SAS).result()
    folder = result.folder_url.removeprefix(CONTAINER + "/")
    assert folder.startswith("mhsm-pyhsmone-") and folder != result.folder_url, result.folder_url
    assert (hsm_server.storage / folder / "backup.sealed").is_file()

    # Not into an HSM of another security domain: its keys would not open there, and it keeps its own.
    key_client(hsm_server, "pyhsmthree").create_oct_key("py-own", size=128, hardware_protected=True)
    with pytest.raises(HttpResponseError) as refused:
        backup_client(hsm_server, "pyhsmthree").begin_restore(result.folder_url, sas_token=SAS).result()
    assert "another security domain" in str(refused.value)
    assert [k.name for k in key_client(hsm_server, "pyhsmthree").list_properties_of_keys()] == ["py-own"]

    # A fresh HSM serves nothing but its security domain until it is activated.
    target = key_client(hsm_server, "pyhsmtwo")
    with pytest.raises(HttpResponseError) as refused:
        list(target.list_properties_of_keys())
    assert refused.value.status_code == 403 and "not activated" in str(refused.value)

    # Given pyhsmone's security domain: every key, every version, the same material.
    share_security_domain(hsm_server, "pyhsmone", "pyhsmtwo", tmp_path)
    backup_client(hsm_server, "pyhsmtwo").begin_restore(result.folder_url, sas_token=SAS).wait()
    assert sorted(k.name for k in target.list_properties_of_keys()) == ["py-aes", "py-ec", "py-rsa"]
    assert len(list(target.list_properties_of_key_versions("py-rsa"))) == 2
    restored_rsa = target.get_key("py-rsa", rsa.properties.version)
    assert (restored_rsa.key.n, restored_rsa.key.e, restored_rsa.key_type) == (rsa.key.n, rsa.key.e, rsa.key_type)
    restored_ec = target.get_key("py-ec")
    assert (restored_ec.key.x, restored_ec.key.y) == (ec.key.x, ec.key.y)
    assert crypto(hsm_server, restored_rsa).decrypt(EncryptionAlgorithm.rsa_oaep_256, rsa_sealed).plaintext == plaintext
    assert crypto(hsm_server, restored_ec).verify(SignatureAlgorithm.es256, digest, signature).is_valid
    opened = crypto(hsm_server, target.get_key("py-aes")).decrypt(
        EncryptionAlgorithm.a256_gcm, gcm.ciphertext, iv=gcm.iv, authentication_tag=gcm.tag
    )
    assert opened.plaintext == plaintext
    restored = access_client(hsm_server, "pyhsmtwo").list_role_assignments(KeyVaultRoleScope.KEYS)
    assert (someone, "/keys") in {(a.properties.principal_id, a.properties.scope) for a in restored}

    # One key on its own: its later version goes, the other keys stay.
    target.rotate_key("py-rsa")
    target.create_oct_key("py-later", size=128, hardware_protected=True)
    backup_client(hsm_server, "pyhsmtwo").begin_restore(result.folder_url, sas_token=SAS, key_name="py-rsa").wait()
    assert len(list(target.list_properties_of_key_versions("py-rsa"))) == 2
    assert sorted(k.name for k in target.list_properties_of_keys()) == ["py-aes", "py-ec", "py-later", "py-rsa"]

    # The HSM's managed identity, which the operator let use the container.
    by_identity = backup_client(hsm_server, "pyhsmone").begin_backup(CONTAINER, use_managed_identity=True).result()
    assert by_identity.folder_url.startswith(CONTAINER + "/mhsm-pyhsmone-")


def test_refusals_leave_the_hsm_and_the_storage_as_they_were(hsm_server):
    before = sorted(p.name for p in hsm_server.storage.iterdir()) if hsm_server.storage.exists() else []
    client = backup_client(hsm_server, "pyhsmone")

    # A forged SAS token: the job fails, and no folder appears.
    with pytest.raises(HttpResponseError):
        client.begin_backup(CONTAINER, sas_token="sv=2024-08-04&sig=forged").result()
    after = sorted(p.name for p in hsm_server.storage.iterdir()) if hsm_server.storage.exists() else []
    assert after == before

    # A container the installation does not declare: refused at once.
    with pytest.raises(HttpResponseError) as refused:
        client.begin_backup("https://someaccount.blob.core.windows.net/backup", sas_token=SAS)
    assert refused.value.status_code == 400

    # A caller whose roles do not include backup.
    with pytest.raises(HttpResponseError) as refused:
        backup_client(hsm_server, "pyhsmone", app="nobody").begin_backup(CONTAINER, sas_token=SAS)
    assert refused.value.status_code == 403

    # A folder that is not there: the restore fails and the HSM keeps its keys.
    keys = key_client(hsm_server, "pyhsmthree")
    names = sorted(k.name for k in keys.list_properties_of_keys())
    with pytest.raises(HttpResponseError):
        backup_client(hsm_server, "pyhsmthree").begin_restore(
            f"{CONTAINER}/mhsm-pyhsmone-2020010100000000", sas_token=SAS
        ).wait()
    assert sorted(k.name for k in keys.list_properties_of_keys()) == names
