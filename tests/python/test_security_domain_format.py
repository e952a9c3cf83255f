"""Strongroom's security domain format against the Azure CLI's own code, with no server: a security domain that
`strongroom_core::security_domain` made is opened by `az keyvault security-domain restore-blob` (a local command:
the operators' private keys open a quorum of shares, the CLI rebuilds the master key, opens the data and wraps
them to the HSM's transfer key), and Strongroom opens the blob the CLI wrote and finds its root secret again.
That one flow checks both directions: the file Strongroom writes and the blob it reads.

The Rust side is the test-only example `crates/core/examples/security_domain.rs` (wrapping_keys.py runs it).
"""

import base64
import json
import os
import subprocess

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from wrapping_keys import security_domain_example as rust, wrapping_key

AZ = os.environ.get("STRONGROOM_AZ")
if not AZ:
    if os.environ.get("CI") == "true":
        raise RuntimeError("STRONGROOM_AZ is not set under CI (scripts/azcli-env makes it)")
    pytest.skip("STRONGROOM_AZ names no Azure CLI (scripts/test sets it)", allow_module_level=True)

ROOT_SECRET = bytes(range(32)).hex()


def az(*args, config_dir):
    env = dict(os.environ, AZURE_CONFIG_DIR=str(config_dir), AZURE_CORE_COLLECT_TELEMETRY="false")
    done = subprocess.run([AZ, *map(str, args)], capture_output=True, text=True, timeout=120, env=env,
                          stdin=subprocess.DEVNULL)
    return done.returncode, done.stdout, done.stderr


def exchange_key_pem(jwk_text, path):
    """What `az keyvault security-domain init-recovery` saves from the HSM's transfer key: its x5c as PEM."""
    der = base64.b64decode(json.loads(jwk_text)["x5c"][0])
    path.write_bytes(x509.load_der_x509_certificate(der).public_bytes(serialization.Encoding.PEM))
    return path


@pytest.fixture(scope="module")
def ceremony(tmp_path_factory):
    """Three operators, a quorum of two, the security domain Strongroom made for them, and a transfer key."""
    folder = tmp_path_factory.mktemp("security-domain")
    keys = [wrapping_key(folder, f"operator{i}") for i in range(3)]
    code, domain, err = rust("download", ROOT_SECRET, 2, *(k.with_suffix(".der") for k in keys))
    assert code == 0, err
    (folder / "sd.json").write_text(domain)
    code, jwk, err = rust("transfer-key", folder)
    assert code == 0, err
    exchange = exchange_key_pem(jwk, folder / "exchange.pem")
    return folder, keys, exchange


def test_the_cli_restores_a_strongroom_security_domain_that_strongroom_then_opens(ceremony):
    folder, keys, exchange = ceremony
    domain = json.loads((folder / "sd.json").read_text())
    assert domain["SharedKeys"]["required"] == 2 and domain["SharedKeys"]["key_algorithm"] == "shamir_share"
    assert len(domain["SharedKeys"]["enc_shares"]) == 3
    for pair in [(keys[0], keys[1]), (keys[2], keys[0]), (keys[1], keys[2])]:
        blob = folder / f"blob-{pair[0].stem}-{pair[1].stem}.json"
        code, _, err = az("keyvault", "security-domain", "restore-blob", "--sd-file", folder / "sd.json",
                          "--sd-exchange-key", exchange, "--sd-wrapping-keys", *pair,
                          "--sd-file-restore-blob", blob, config_dir=folder / "az")
        assert code == 0, err
        assert set(json.loads(blob.read_text())) == {"EncData", "WrappedKey"}
        code, root, err = rust("upload", blob, folder)
        assert code == 0, err
        assert root == ROOT_SECRET


def test_one_key_short_of_the_quorum_opens_nothing(ceremony):
    folder, keys, exchange = ceremony
    code, _, err = az("keyvault", "security-domain", "restore-blob", "--sd-file", folder / "sd.json",
                      "--sd-exchange-key", exchange, "--sd-wrapping-keys", keys[1],
                      "--sd-file-restore-blob", folder / "short.json", config_dir=folder / "az")
    assert code != 0 and "should not less than 2" in err
    # A key that holds no share counts for nothing.
    stranger = wrapping_key(folder, "stranger")
    code, _, err = az("keyvault", "security-domain", "restore-blob", "--sd-file", folder / "sd.json",
                      "--sd-exchange-key", exchange, "--sd-wrapping-keys", keys[1], stranger,
                      "--sd-file-restore-blob", folder / "stranger.json", config_dir=folder / "az")
    assert code != 0 and "Insufficient shares" in err


def test_strongroom_refuses_a_changed_blob(ceremony):
    folder, keys, exchange = ceremony
    blob = folder / "to-change.json"
    code, _, err = az("keyvault", "security-domain", "restore-blob", "--sd-file", folder / "sd.json",
                      "--sd-exchange-key", exchange, "--sd-wrapping-keys", keys[0], keys[2],
                      "--sd-file-restore-blob", blob, config_dir=folder / "az")
    assert code == 0, err
    changed = json.loads(blob.read_text())
    header, key, iv, ciphertext, tag = changed["EncData"]["data"][0]["compact_jwe"].split(".")
    ciphertext = ("B" if ciphertext[5] == "A" else "A").join([ciphertext[:5], ciphertext[6:]])
    changed["EncData"]["data"][0]["compact_jwe"] = ".".join([header, key, iv, ciphertext, tag])
    blob.write_text(json.dumps(changed))
    code, root, err = rust("upload", blob, folder)
    assert code != 0 and root == "" and "Tampered" in err
