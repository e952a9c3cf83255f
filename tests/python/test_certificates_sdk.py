"""The official azure-keyvault-certificates SDK, unmodified: certificates issued by policy, read back with their
key and secret, and checked with the `cryptography` package."""

import base64
import hashlib
import ipaddress
import tempfile

import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.keyvault.certificates import CertificateClient, CertificatePolicy, CertificateContentType, KeyUsageType
from azure.keyvault.keys.crypto import SignatureAlgorithm
from azure.keyvault.secrets import SecretClient
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed, encode_dss_signature
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from conftest import LIMITS_OFF, ONE_PORT, server_section, serving, standard_tenants
from test_keys_sdk import crypto_client, key_client
from test_secrets_sdk import credential_for


def clients(server):
    url = f"https://billing.vault.localhost:{server.port}"
    credential = credential_for(server, "admin")
    return (
        CertificateClient(url, credential, connection_verify=server.ca),
        SecretClient(url, credential, connection_verify=server.ca),
    )


def test_the_default_policy_issues_a_self_signed_certificate_with_its_key_and_pfx(configured_server):
    certificates, secrets = clients(configured_server)
    issued = certificates.begin_create_certificate("sdk-cert-default", CertificatePolicy.get_default()).result()
    cert = x509.load_der_x509_certificate(issued.cer)
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "DefaultPolicy"
    assert cert.issuer == cert.subject, "self-signed"
    cert.public_key().verify(cert.signature, cert.tbs_certificate_bytes, padding.PKCS1v15(), cert.signature_hash_algorithm)
    assert issued.properties.x509_thumbprint == hashlib.sha1(issued.cer).digest()
    assert issued.key_id.endswith(f"/keys/sdk-cert-default/{issued.properties.version}")
    assert issued.secret_id.endswith(f"/secrets/sdk-cert-default/{issued.properties.version}")
    assert issued.policy.issuer_name == "Self" and issued.policy.key_type == "RSA" and issued.policy.key_size == 2048

    # The secret is a PKCS#12 file whose key is the certificate's.
    secret = secrets.get_secret("sdk-cert-default")
    assert secret.properties.content_type == CertificateContentType.pkcs12
    assert secret.properties.managed and secret.properties.key_id == issued.key_id
    private_key, leaf, _ = pkcs12.load_key_and_certificates(base64.b64decode(secret.value), None)
    assert leaf == cert
    assert private_key.public_key().public_numbers() == cert.public_key().public_numbers()

    # The key signs through CryptographyClient; the certificate's public key verifies the signature.
    digest = hashlib.sha256(b"signed by the certificate's key").digest()
    signed = crypto_client(configured_server, issued.key_id).sign(SignatureAlgorithm.rs256, digest)
    cert.public_key().verify(signed.signature, digest, padding.PKCS1v15(), Prehashed(hashes.SHA256()))
    assert key_client(configured_server).get_key("sdk-cert-default").properties.managed

    assert certificates.get_certificate_operation("sdk-cert-default").status == "completed"
    assert certificates.get_certificate_policy("sdk-cert-default").subject == "CN=DefaultPolicy"
    assert "sdk-cert-default" in {c.name for c in certificates.list_properties_of_certificates()}
    versions = list(certificates.list_properties_of_certificate_versions("sdk-cert-default"))
    assert [v.version for v in versions] == [issued.properties.version]
    assert certificates.get_certificate_version("sdk-cert-default", issued.properties.version).cer == issued.cer


def test_a_custom_policy_is_honoured_in_the_certificate(configured_server):
    certificates, secrets = clients(configured_server)
    policy = CertificatePolicy(
        issuer_name="Self",
        subject="CN=api.contoso.com, O=Contoso, C=US",
        san_dns_names=["api.contoso.com", "www.contoso.com"],
        san_emails=["ops@contoso.com"],
        san_ip_addresses=["10.0.0.7"],
        san_uris=["https://contoso.com/api"],
        san_user_principal_names=["svc@contoso.com"],
        exportable=True,
        key_type="EC",
        key_curve_name="P-384",
        reuse_key=False,
        content_type=CertificateContentType.pem,
        validity_in_months=6,
        key_usage=[KeyUsageType.digital_signature, KeyUsageType.key_agreement],
        enhanced_key_usage=["1.3.6.1.5.5.7.3.2", "1.3.6.1.4.1.311.10.3.12"],
    )
    issued = certificates.begin_create_certificate("sdk-cert-custom", policy, tags={"team": "api"}).result()
    cert = x509.load_der_x509_certificate(issued.cer)
    subject = {a.oid: a.value for a in cert.subject}
    assert subject == {NameOID.COMMON_NAME: "api.contoso.com", NameOID.ORGANIZATION_NAME: "Contoso", NameOID.COUNTRY_NAME: "US"}
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == ["api.contoso.com", "www.contoso.com"]
    assert sans.get_values_for_type(x509.RFC822Name) == ["ops@contoso.com"]
    assert sans.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("10.0.0.7")]
    assert sans.get_values_for_type(x509.UniformResourceIdentifier) == ["https://contoso.com/api"]
    other = sans.get_values_for_type(x509.OtherName)
    assert other[0].type_id.dotted_string == "1.3.6.1.4.1.311.20.2.3" and b"svc@contoso.com" in other[0].value
    ekus = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(ekus) == [ExtendedKeyUsageOID.CLIENT_AUTH, x509.ObjectIdentifier("1.3.6.1.4.1.311.10.3.12")]
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.digital_signature and usage.key_agreement and not usage.key_encipherment
    lifetime = cert.not_valid_after_utc - cert.not_valid_before_utc
    assert 180 <= lifetime.days <= 184, lifetime
    assert isinstance(cert.public_key(), ec.EllipticCurvePublicKey) and cert.public_key().curve.name == "secp384r1"
    assert issued.properties.tags == {"team": "api"}
    assert issued.properties.not_before and issued.properties.expires_on

    pem = secrets.get_secret("sdk-cert-custom")
    assert pem.properties.content_type == CertificateContentType.pem
    private_key = serialization.load_pem_private_key(pem.value.encode(), None)
    assert x509.load_pem_x509_certificate(pem.value.encode()) == cert
    assert private_key.public_key().public_numbers() == cert.public_key().public_numbers()

    digest = hashlib.sha384(b"m").digest()
    signature = crypto_client(configured_server, issued.key_id).sign(SignatureAlgorithm.es384, digest).signature
    half = len(signature) // 2
    der = encode_dss_signature(int.from_bytes(signature[:half], "big"), int.from_bytes(signature[half:], "big"))
    cert.public_key().verify(der, digest, ec.ECDSA(Prehashed(hashes.SHA384())))


def test_policies_that_cannot_be_honoured_are_refused(configured_server):
    certificates, _ = clients(configured_server)
    for policy in (
        CertificatePolicy(issuer_name="Self", subject="XX=nothing"),
        CertificatePolicy(issuer_name="Self", subject="CN=x", key_type="EC", key_curve_name="P-256K"),
        CertificatePolicy(issuer_name="Self", subject="CN=x", key_usage=["everything"]),
        CertificatePolicy(issuer_name="Self", subject="CN=x", validity_in_months=0),
    ):
        with pytest.raises(HttpResponseError) as refused:
            certificates.begin_create_certificate("sdk-cert-refused", policy).result()
        assert refused.value.status_code == 400 and refused.value.error.code == "BadParameter"
    with pytest.raises(ResourceNotFoundError):
        certificates.get_certificate("sdk-cert-refused")
    with pytest.raises(ResourceNotFoundError):
        SecretClient(
            f"https://billing.vault.localhost:{configured_server.port}",
            credential_for(configured_server, "admin"),
            connection_verify=configured_server.ca,
        ).get_secret("sdk-cert-refused")


def test_delete_recover_and_purge_keep_certificate_key_and_secret_in_step(configured_server):
    certificates, secrets = clients(configured_server)
    keys = key_client(configured_server)
    issued = certificates.begin_create_certificate("sdk-cert-lifecycle", CertificatePolicy.get_default()).result()

    updated = certificates.update_certificate_properties("sdk-cert-lifecycle", tags={"stage": "retiring"})
    assert updated.properties.tags == {"stage": "retiring"} and updated.cer == issued.cer
    policy = certificates.update_certificate_policy(
        "sdk-cert-lifecycle", CertificatePolicy(subject="CN=next", validity_in_months=3)
    )
    assert policy.subject == "CN=next" and policy.validity_in_months == 3 and policy.issuer_name == "Self"

    deleted = certificates.begin_delete_certificate("sdk-cert-lifecycle").result()
    assert deleted.recovery_id.endswith("/deletedcertificates/sdk-cert-lifecycle") and deleted.cer == issued.cer
    for read in (
        lambda: certificates.get_certificate("sdk-cert-lifecycle"),
        lambda: keys.get_key("sdk-cert-lifecycle"),
        lambda: secrets.get_secret("sdk-cert-lifecycle"),
    ):
        with pytest.raises(ResourceNotFoundError):
            read()
    assert certificates.get_deleted_certificate("sdk-cert-lifecycle").properties.version == issued.properties.version
    assert "sdk-cert-lifecycle" in {c.name for c in certificates.list_deleted_certificates()}
    assert keys.get_deleted_key("sdk-cert-lifecycle").name == "sdk-cert-lifecycle", "the key went with it"
    assert secrets.get_deleted_secret("sdk-cert-lifecycle").name == "sdk-cert-lifecycle", "the secret went with it"

    recovered = certificates.begin_recover_deleted_certificate("sdk-cert-lifecycle").result()
    assert recovered.cer == issued.cer
    assert keys.get_key("sdk-cert-lifecycle").id == issued.key_id
    assert secrets.get_secret("sdk-cert-lifecycle").id == issued.secret_id

    certificates.begin_delete_certificate("sdk-cert-lifecycle").result()
    certificates.purge_deleted_certificate("sdk-cert-lifecycle")
    for read in (
        lambda: certificates.get_deleted_certificate("sdk-cert-lifecycle"),
        lambda: keys.get_deleted_key("sdk-cert-lifecycle"),
        lambda: secrets.get_deleted_secret("sdk-cert-lifecycle"),
    ):
        with pytest.raises(ResourceNotFoundError):
            read()


def made_by_the_test(common_name, key=None):
    """A certificate and its key, made with the cryptography package."""
    import datetime

    from cryptography.hazmat.primitives.asymmetric import rsa

    key = key or rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = datetime.datetime.now(datetime.timezone.utc)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    return cert, key


def test_pkcs12_and_pem_files_are_imported_with_their_keys(configured_server):
    certificates, secrets = clients(configured_server)
    cert, key = made_by_the_test("imported.contoso.com")
    for name, data, password, policy in (
        (
            "sdk-import-pfx-password",
            pkcs12.serialize_key_and_certificates(b"x", key, cert, None, serialization.BestAvailableEncryption(b"pfx-password")),
            "pfx-password",
            None,
        ),
        ("sdk-import-pfx", pkcs12.serialize_key_and_certificates(b"x", key, cert, None, serialization.NoEncryption()), None, None),
        (
            "sdk-import-pem",
            key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
            + cert.public_bytes(serialization.Encoding.PEM),
            None,
            CertificatePolicy(issuer_name="Unknown", subject="CN=imported.contoso.com", content_type=CertificateContentType.pem),
        ),
    ):
        imported = certificates.import_certificate(name, data, password=password, policy=policy)
        assert x509.load_der_x509_certificate(imported.cer) == cert, name
        assert imported.policy.subject == "CN=imported.contoso.com"
        digest = hashlib.sha256(name.encode()).digest()
        signed = crypto_client(configured_server, imported.key_id).sign(SignatureAlgorithm.rs256, digest)
        cert.public_key().verify(signed.signature, digest, padding.PKCS1v15(), Prehashed(hashes.SHA256()))
        secret = secrets.get_secret(name)
        if secret.properties.content_type == CertificateContentType.pem:
            stored_key = serialization.load_pem_private_key(secret.value.encode(), None)
        else:
            stored_key, _, _ = pkcs12.load_key_and_certificates(base64.b64decode(secret.value), None)
        assert stored_key.private_numbers() == key.private_numbers(), name

    _, other_key = made_by_the_test("other")
    mismatched = other_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ) + cert.public_bytes(serialization.Encoding.PEM)
    pem_policy = CertificatePolicy(issuer_name="Unknown", subject="CN=x", content_type=CertificateContentType.pem)
    locked = pkcs12.serialize_key_and_certificates(b"x", key, cert, None, serialization.BestAvailableEncryption(b"right"))
    for data, password, policy in ((mismatched, None, pem_policy), (locked, "wrong", None)):
        with pytest.raises(HttpResponseError) as refused:
            certificates.import_certificate("sdk-import-refused", data, password=password, policy=policy)
        assert refused.value.status_code == 400
    with pytest.raises(ResourceNotFoundError):
        certificates.get_certificate("sdk-import-refused")


def test_a_csr_signed_by_the_tests_ca_is_merged(configured_server):
    import datetime

    certificates, secrets = clients(configured_server)
    policy = CertificatePolicy(issuer_name="Unknown", subject="CN=csr.contoso.com", san_dns_names=["csr.contoso.com"])
    operation = certificates.begin_create_certificate("sdk-csr", policy).result()
    assert operation.status == "inProgress" and operation.issuer_name == "Unknown"
    csr = x509.load_der_x509_csr(operation.csr)
    assert csr.is_signature_valid and csr.subject.rfc4514_string() == "CN=csr.contoso.com"
    assert certificates.get_certificate_operation("sdk-csr").csr == operation.csr
    assert "sdk-csr" in {c.name for c in certificates.list_properties_of_certificates(include_pending=True)}
    assert "sdk-csr" not in {c.name for c in certificates.list_properties_of_certificates()}

    ca_cert, ca_key = made_by_the_test("Test Root CA")
    now = datetime.datetime.now(datetime.timezone.utc)
    leaf = (
        x509.CertificateBuilder()
        .subject_name(csr.subject)
        .issuer_name(ca_cert.subject)
        .public_key(csr.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(days=90))
        .add_extension(csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value, False)
        .sign(ca_key, hashes.SHA256())
    )
    wrong_leaf, _ = made_by_the_test("not for this key")
    with pytest.raises(HttpResponseError) as refused:
        certificates.merge_certificate("sdk-csr", [wrong_leaf.public_bytes(serialization.Encoding.DER)])
    assert refused.value.status_code == 400

    der = [c.public_bytes(serialization.Encoding.DER) for c in (leaf, ca_cert)]
    merged = certificates.merge_certificate("sdk-csr", der)
    assert merged.cer == der[0] and merged.properties.version
    assert certificates.get_certificate_operation("sdk-csr").status == "completed"
    private_key, stored_leaf, chain = pkcs12.load_key_and_certificates(base64.b64decode(secrets.get_secret("sdk-csr").value), None)
    assert stored_leaf == leaf and chain == [ca_cert], "the chain as merged"
    assert private_key.public_key().public_numbers() == leaf.public_key().public_numbers()
    ca_cert.public_key().verify(leaf.signature, leaf.tbs_certificate_bytes, padding.PKCS1v15(), leaf.signature_hash_algorithm)

    certificates.begin_create_certificate("sdk-csr-cancelled", policy).result()
    assert certificates.cancel_certificate_operation("sdk-csr-cancelled").status == "cancelled"
    assert certificates.delete_certificate_operation("sdk-csr-cancelled").cancellation_requested
    with pytest.raises(ResourceNotFoundError):
        certificates.get_certificate_operation("sdk-csr-cancelled")


def test_contacts_and_secret_conversion_to_the_other_format(configured_server):
    from azure.keyvault.certificates import CertificateContact

    certificates, secrets = clients(configured_server)
    contacts = [CertificateContact(email="pki@contoso.com", name="PKI team", phone="555-0100")]
    assert [c.email for c in certificates.set_contacts(contacts)] == ["pki@contoso.com"]
    assert [(c.name, c.phone) for c in certificates.get_contacts()] == [("PKI team", "555-0100")]
    with pytest.raises(HttpResponseError) as refused:
        certificates.set_contacts([CertificateContact(name="no address")])
    assert refused.value.status_code == 400
    assert [c.email for c in certificates.delete_contacts()] == ["pki@contoso.com"]
    with pytest.raises(ResourceNotFoundError):
        certificates.get_contacts()

    issued = certificates.begin_create_certificate("sdk-cert-convert", CertificatePolicy.get_default()).result()
    as_pem = secrets.get_secret("sdk-cert-convert", out_content_type=CertificateContentType.pem)
    assert as_pem.properties.content_type == CertificateContentType.pem
    assert x509.load_pem_x509_certificate(as_pem.value.encode()).public_bytes(serialization.Encoding.DER) == issued.cer
    pem_key = serialization.load_pem_private_key(as_pem.value.encode(), None)
    pfx_key, _, _ = pkcs12.load_key_and_certificates(base64.b64decode(secrets.get_secret("sdk-cert-convert").value), None)
    assert pem_key.private_numbers() == pfx_key.private_numbers()
    secrets.set_secret("plain-secret-not-a-certificate", "v")
    with pytest.raises(HttpResponseError) as refused:
        secrets.get_secret("plain-secret-not-a-certificate", out_content_type=CertificateContentType.pem)
    assert refused.value.status_code == 400


def test_an_issuer_backed_by_the_local_ca_issues_real_internal_certificates(configured_server):
    certificates, secrets = clients(configured_server)
    issuer = certificates.create_issuer("team-ca", "Strongroom", account_id="pki", password="issuer-password")
    assert issuer.provider == "Strongroom" and issuer.enabled and issuer.account_id == "pki" and not issuer.password
    assert "team-ca" in {i.name for i in certificates.list_properties_of_issuers()}
    assert certificates.get_issuer("team-ca").provider == "Strongroom"

    policy = CertificatePolicy(issuer_name="team-ca", subject="CN=internal.contoso.com", san_dns_names=["internal.contoso.com"])
    issued = certificates.begin_create_certificate("sdk-cert-internal", policy).result()
    leaf = x509.load_der_x509_certificate(issued.cer)
    local_ca = x509.load_pem_x509_certificate((configured_server.data_dir / "ca.pem").read_bytes())
    _, stored_leaf, chain = pkcs12.load_key_and_certificates(base64.b64decode(secrets.get_secret("sdk-cert-internal").value), None)
    assert stored_leaf == leaf and len(chain) == 1, "the secret carries the chain up to the tenant's CA"
    tenant_ca = chain[0]
    leaf.verify_directly_issued_by(tenant_ca)
    assert leaf.issuer == tenant_ca.subject != local_ca.subject, "never the CA behind the server's own TLS"
    constraints = tenant_ca.extensions.get_extension_for_class(x509.NameConstraints).value
    assert [name.value for name in constraints.permitted_subtrees] == ["contoso.com"]
    with pytest.raises(HttpResponseError) as forged:
        certificates.begin_create_certificate(
            "sdk-cert-forged", CertificatePolicy(issuer_name="team-ca", subject="CN=localhost", san_dns_names=["localhost"])
        ).result()
    assert forged.value.status_code == 400

    certificates.update_issuer("team-ca", enabled=False)
    with pytest.raises(HttpResponseError) as disabled:
        certificates.begin_create_certificate("sdk-cert-internal-2", policy).result()
    assert disabled.value.status_code == 400
    # A provider only Key Vault reaches: accepted, and its operation fails, as Key Vault reports a failed issuer.
    certificates.create_issuer("outside-ca", "DigiCert")
    failed = certificates.begin_create_certificate(
        "sdk-cert-outside", CertificatePolicy(issuer_name="outside-ca", subject="CN=x")
    ).result()
    assert failed.status == "failed" and failed.error.code == "CertificateIssuerProviderUnreachable"
    assert "'DigiCert'" in failed.status_details and failed.target is None
    assert certificates.get_certificate("sdk-cert-outside").properties.enabled is False
    assert certificates.delete_issuer("team-ca").provider == "Strongroom"
    with pytest.raises(ResourceNotFoundError):
        certificates.get_issuer("team-ca")


def test_a_certificate_backup_restores_with_its_key_and_secret(configured_server):
    certificates, secrets = clients(configured_server)
    keys = key_client(configured_server)
    issued = certificates.begin_create_certificate("sdk-cert-backup", CertificatePolicy.get_default()).result()
    pfx = secrets.get_secret("sdk-cert-backup").value
    blob = certificates.backup_certificate("sdk-cert-backup")
    certificates.begin_delete_certificate("sdk-cert-backup").result()
    certificates.purge_deleted_certificate("sdk-cert-backup")

    with pytest.raises(HttpResponseError) as wrong_kind:
        secrets.restore_secret_backup(blob)
    assert wrong_kind.value.status_code == 400, "a certificate blob is not a secret"
    restored = certificates.restore_certificate_backup(blob)
    assert restored.cer == issued.cer and restored.properties.version == issued.properties.version
    assert restored.policy.subject == "CN=DefaultPolicy"
    assert keys.get_key("sdk-cert-backup").id == issued.key_id
    assert secrets.get_secret("sdk-cert-backup").value == pfx
    with pytest.raises(HttpResponseError) as taken:
        certificates.restore_certificate_backup(blob)
    assert taken.value.status_code == 409
    secret_blob = secrets.backup_secret("sdk-cert-backup")
    with pytest.raises(HttpResponseError) as not_a_certificate:
        certificates.restore_certificate_backup(secret_blob)
    assert not_a_certificate.value.status_code == 400
    certificates.begin_delete_certificate("sdk-cert-backup").result()
    with pytest.raises(HttpResponseError) as deleted:
        certificates.restore_certificate_backup(blob)
    assert deleted.value.status_code == 409
    assert "Certificate sdk-cert-backup is currently in a deleted but recoverable state" in deleted.value.message


def test_a_pending_certificate_reads_and_its_operation_is_cancelled_only_while_in_progress():
    with tempfile.TemporaryDirectory() as data_dir:
        # Issuers take half a minute here: the operation stays in progress for the test.
        config = server_section(data_dir, ONE_PORT, certificate_issuance_seconds=30) + standard_tenants() + LIMITS_OFF
        with serving(data_dir, config) as server:
            certificates, _ = clients(server)
            poller = certificates.begin_create_certificate("sdk-window", CertificatePolicy.get_default())
            pending = certificates.get_certificate("sdk-window")
            assert pending.properties.enabled is False and pending.cer is None and pending.properties.version
            assert [v.version for v in certificates.list_properties_of_certificate_versions("sdk-window")] == [
                pending.properties.version
            ]
            with pytest.raises(HttpResponseError) as conflict:
                certificates.begin_create_certificate("sdk-window", CertificatePolicy.get_default())
            assert conflict.value.status_code == 409 and conflict.value.error.code == "Conflict"

            assert certificates.cancel_certificate_operation("sdk-window").status == "cancelled"
            assert poller.result().status == "cancelled"
            with pytest.raises(HttpResponseError) as ended:
                certificates.cancel_certificate_operation("sdk-window")
            assert ended.value.status_code == 403
            assert ended.value.error.message == "Pending status must be in progress to allow update."
            assert certificates.delete_certificate_operation("sdk-window").status == "cancelled"
            with pytest.raises(ResourceNotFoundError) as gone:
                certificates.get_certificate_operation("sdk-window")
            assert gone.value.error.code == "PendingCertificateNotFound"
            assert certificates.get_certificate("sdk-window").properties.enabled is False


def test_a_certificate_whose_key_may_not_leave_has_a_secret_without_it(configured_server):
    certificates, secrets = clients(configured_server)
    # The SDK sends key_props only when a truthy member is set, hence the key type.
    policy = CertificatePolicy(issuer_name="Self", subject="CN=sealed.contoso.com", exportable=False, key_type="RSA")
    issued = certificates.begin_create_certificate("sdk-cert-sealed", policy).result()
    assert issued.policy.exportable is False
    private_key, _, certs = pkcs12.load_key_and_certificates(base64.b64decode(secrets.get_secret("sdk-cert-sealed").value), None)
    leaf = x509.load_der_x509_certificate(issued.cer)
    assert private_key is None and certs == [leaf], "the certificate alone"
    digest = hashlib.sha256(b"still usable in the vault").digest()
    signed = crypto_client(configured_server, issued.key_id).sign(SignatureAlgorithm.rs256, digest)
    leaf.public_key().verify(signed.signature, digest, padding.PKCS1v15(), Prehashed(hashes.SHA256()))
