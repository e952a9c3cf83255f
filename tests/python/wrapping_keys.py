"""Security domain wrapping keys as an HSM's operators make them (Microsoft's documentation uses openssl):
`NAME.pem`, the RSA private key, beside `NAME.cer`, its self-signed certificate (PEM) — the CLI finds the
certificate of each private key it is given by that name — `NAME.der`, the certificate's DER, and `NAME.pk8`, the
private key's PKCS#8 DER (for the Rust example's `restore-blob`). And `security_domain_example`, which runs the
test-only Rust example `crates/core/examples/security_domain.rs` (`strongroom_core::security_domain` on the command
line), built beside the `strongroom` binary in STRONGROOM_BIN's folder, `examples/`."""

import base64
import datetime
import pathlib
import subprocess

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from conftest import BINARY

EXAMPLE = pathlib.Path(BINARY).resolve().parent / "examples" / "security_domain"


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
    (folder / f"{name}.pk8").write_bytes(key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return folder / f"{name}.pem"


def security_domain_example(*args):
    """Runs the example with `args`: its exit code, output and errors."""
    if not EXAMPLE.exists():
        raise RuntimeError(f"{EXAMPLE} is missing: cargo build --release -p strongroom-core --example security_domain")
    done = subprocess.run([str(EXAMPLE), *map(str, args)], capture_output=True, text=True, timeout=60)
    return done.returncode, done.stdout.strip(), done.stderr.strip()


def download_security_domain(client, folder):
    """Downloads an HSM's security domain with `client`, a SecurityDomainClient, for three new operators in
    `folder` with a quorum of two (which activates a new HSM); returns it and the operators' private key paths."""
    operators = [wrapping_key(folder, f"operator{i}") for i in range(3)]
    certificates = [
        {"kty": "RSA", "alg": "RSA-OAEP-256", "x5c": [base64.b64encode(k.with_suffix(".der").read_bytes()).decode()]}
        for k in operators
    ]
    domain = client.begin_download({"certificates": certificates, "required": 2}).result()
    return domain.value, operators
