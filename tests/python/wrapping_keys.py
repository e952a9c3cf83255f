"""Security domain wrapping keys as an HSM's operators make them (Microsoft's documentation uses openssl):
`NAME.pem`, the RSA private key, beside `NAME.cer`, its self-signed certificate (PEM) — the CLI finds the
certificate of each private key it is given by that name — and `NAME.der`, the certificate's DER."""

import datetime

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID


def wrapping_key(folder, name):
    """Makes the files of one wrapping key in `folder`; returns the private key's path."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (
        x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30)).sign(key, hashes.SHA256())
    )
    (folder / f"{name}.pem").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    (folder / f"{name}.cer").write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    (folder / f"{name}.der").write_bytes(certificate.public_bytes(serialization.Encoding.DER))
    return folder / f"{name}.pem"
