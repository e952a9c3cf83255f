"""Microsoft's own Key Vault samples for Python, unchanged, against `strongroom dev`.

The samples are the `samples/` folders of the pinned source distributions of azure-keyvault-secrets, -keys,
-certificates and -administration (tests/python/samples/requirements.txt; scripts/samples-env fetches them and the test command passes
their directory as STRONGROOM_SAMPLES). Each runs as a user would run it against `strongroom dev --azure-hostnames`
after `source dev.env`: its own process, DefaultAzureCredential from the environment, the vault in VAULT_URL
(the Managed HSM in MANAGED_HSM_URL), Azure's own names. (Outside that mode the SDKs need `disable_instance_discovery`, which DefaultAzureCredential
cannot be told through the environment, so a sample would have to change.) Each gets a fresh dev instance,
because the samples use fixed object names and leave them soft-deleted, as they would in an Azure vault (a second
sample with the same name would meet a 409 there too).

The Azure-hostname mode listens on port 443, which needs root, as CI has.
"""

import concurrent.futures
import os
import pathlib
import queue
import subprocess
import sys
import tempfile

import pytest

from conftest import Server, read_env_file
from test_certificates_sdk import made_by_the_test

SAMPLES = os.environ.get("STRONGROOM_SAMPLES")
RUNNER = pathlib.Path(__file__).resolve().parent / "samples" / "run_sample.py"
# Loopback addresses of their own, where dev servers answer on port 443 as Azure: other tests hold port 443 of
# 127.0.0.1, 127.0.0.3 and 127.0.0.6, and the private endpoint 127.0.0.9.
AZURE_ADDRESSES = ["127.0.0.7", "127.0.0.8", "127.0.0.10", "127.0.0.11"]
# What else would speak for a credential, or move the authority, in the environment the tests run in.
OTHER_CREDENTIAL_VARIABLES = [
    "AZURE_AUTHORITY_HOST", "AZURE_USERNAME", "AZURE_PASSWORD", "AZURE_FEDERATED_TOKEN_FILE",
    "AZURE_CLIENT_CERTIFICATE_PATH", "IDENTITY_ENDPOINT", "IDENTITY_HEADER", "IMDS_ENDPOINT", "MSI_ENDPOINT",
    "MSI_SECRET", "AZURE_POD_IDENTITY_AUTHORITY_HOST",
]


# Samples that need what a dev instance does not give them, with the reason.
NOT_RUN = {
    # A storage container (CONTAINER_URL) and a user-assigned managed identity (CLIENT_ID) that may write to it.
    "administration/backup_restore_operations.py": "needs CONTAINER_URL and a managed identity",
    "administration/backup_restore_operations_async.py": "needs CONTAINER_URL and a managed identity",
}


def _sample_files():
    if not SAMPLES:
        return []
    root = pathlib.Path(SAMPLES)
    files = sorted(path.relative_to(root).as_posix() for path in root.glob("*/*.py"))
    return [file for file in files if file not in NOT_RUN]


def test_the_samples_are_there():
    """The test command always provides the samples; a run without them tests nothing, which CI must not allow."""
    if not SAMPLES and os.environ.get("CI") != "true":
        pytest.skip("STRONGROOM_SAMPLES is not set (scripts/test sets it from scripts/samples-env)")
    files = _sample_files()
    # 8 secrets samples, 11 keys samples, 16 certificates samples, 6 administration samples (2 not run) in the
    # pinned versions.
    assert len(files) == 39, files
    assert all((pathlib.Path(SAMPLES) / name).is_file() for name in NOT_RUN), "a sample not run has gone"


def _certificate_files(folder):
    """A PFX and a PEM file (key and certificate) for import_certificate.py's PFX_CERT_PATH and PEM_CERT_PATH."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.serialization import pkcs12

    cert, key = made_by_the_test("sample.example")
    pfx = folder / "sample.pfx"
    pfx.write_bytes(pkcs12.serialize_key_and_certificates(b"sample", key, cert, None, serialization.NoEncryption()))
    pem = folder / "sample.pem"
    pem.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        + cert.public_bytes(serialization.Encoding.PEM)
    )
    return {"PFX_CERT_PATH": str(pfx), "PEM_CERT_PATH": str(pem)}


def _run_sample(sample, address):
    """Runs `sample` against a fresh `strongroom dev --azure-hostnames` answering at `address`; returns the
    finished process."""
    with tempfile.TemporaryDirectory() as data_dir:
        args = ["dev", "--azure-hostnames", "--azure-listen", f"{address}:443", "--listen", "127.0.0.1:0"]
        server = Server([*args, "--data-dir", data_dir], pathlib.Path(data_dir)).start()
        try:
            # `source dev.env`, in an environment where nothing else speaks for a credential.
            env = {name: value for name, value in os.environ.items() if name not in OTHER_CREDENTIAL_VARIABLES}
            env.update(read_env_file(pathlib.Path(data_dir) / "dev.env"))
            env.update(_certificate_files(pathlib.Path(data_dir)), STRONGROOM_SAMPLES_ADDRESS=address)
            return subprocess.run(
                [sys.executable, str(RUNNER), str(pathlib.Path(SAMPLES) / sample)],
                env=env,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=300,
            )
        finally:
            server.stop()


@pytest.fixture(scope="module")
def sample_runs():
    """Every sample's run, a few at a time: the backup samples wait a minute each for Azure's purge to finish."""
    if os.geteuid() != 0:
        pytest.skip("the Azure-hostname mode listens on port 443, which needs root")
    addresses = queue.Queue()
    for address in AZURE_ADDRESSES:
        addresses.put(address)

    def run(sample):
        address = addresses.get()
        try:
            return _run_sample(sample, address)
        finally:
            addresses.put(address)

    samples = _sample_files()
    with concurrent.futures.ThreadPoolExecutor(max_workers=len(AZURE_ADDRESSES)) as pool:
        return dict(zip(samples, pool.map(run, samples)))


@pytest.mark.parametrize("sample", _sample_files())
def test_sample_runs_unchanged(sample, sample_runs):
    run = sample_runs[sample]
    assert run.returncode == 0, f"{sample} failed:\n{run.stdout[-4000:]}\n{run.stderr[-4000:]}"
