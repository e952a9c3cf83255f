"""`strongroom dev --azure-hostnames` and `strongroom trust`: code written for Azure — `DefaultAzureCredential()`
and the vault's Azure URL, in Python and in JavaScript — runs unchanged against the dev server, after one
`strongroom trust install`; `trust` changes the system only as it says, and `uninstall` takes out exactly that.

The Azure-hostname test binds port 443 and adds lines to /etc/hosts (through `strongroom trust`, and takes them
out again), which needs root; the trust store it changes is a folder of the test's own. The `trust` tests
change copies only.
"""

import os
import pathlib
import shutil
import stat
import subprocess
import tempfile

import pytest
import requests
from azure.identity import DefaultAzureCredential
from azure.keyvault.secrets import SecretClient

from conftest import BINARY, Server, read_env_file

# A loopback address of its own: other tests bind port 443 of 127.0.0.1 and 127.0.0.3.
AZURE_ADDRESS = "127.0.0.6"
JS_DIR = pathlib.Path(__file__).resolve().parent.parent / "js"
MARK = "# strongroom trust "
# What else would speak for a credential, or move the authority, in a developer's shell.
OTHER_CREDENTIAL_VARIABLES = [
    "AZURE_AUTHORITY_HOST", "AZURE_USERNAME", "AZURE_PASSWORD", "AZURE_FEDERATED_TOKEN_FILE",
    "AZURE_CLIENT_CERTIFICATE_PATH", "IDENTITY_ENDPOINT", "IDENTITY_HEADER", "IMDS_ENDPOINT", "MSI_ENDPOINT",
    "MSI_SECRET", "AZURE_POD_IDENTITY_AUTHORITY_HOST",
]


def strongroom(*args, check=True, **kwargs):
    result = subprocess.run([BINARY, *args], capture_output=True, text=True, timeout=60, **kwargs)
    if check and result.returncode != 0:
        raise AssertionError(f"strongroom {' '.join(args)} failed: {result.stderr}")
    return result


class System:
    """Copies of what `trust` changes: a trust-store folder, an update command that records its runs, a hosts
    file."""

    def __init__(self, folder, hosts_text="127.0.0.1 localhost\n# kept as it is\n10.1.2.3 graph.microsoft.com\n"):
        self.ca_dir = folder / "ca-certificates"
        self.ca_dir.mkdir()
        self.runs = folder / "update-runs"
        self.update = folder / "update-ca-certificates"
        self.update.write_text(f"#!/bin/sh\necho ran >> {self.runs}\n")
        self.update.chmod(0o755)
        self.hosts = folder / "hosts"
        self.hosts.write_text(hosts_text)

    def args(self, hosts=True):
        paths = ["--ca-dir", str(self.ca_dir), "--update-command", str(self.update)]
        return paths + (["--hosts-file", str(self.hosts)] if hosts else [])

    def update_runs(self):
        return len(self.runs.read_text().splitlines()) if self.runs.exists() else 0


def test_trust_install_is_idempotent_and_uninstall_removes_exactly_it(dev_server, tmp_path):
    system = System(tmp_path)
    original = system.hosts.read_text()
    data = ["--data-dir", str(dev_server.data_dir)]
    names = [*data, "--azure-hostnames", "--address", AZURE_ADDRESS]

    first = strongroom("trust", "install", *names, *system.args()).stdout
    installed = list(system.ca_dir.iterdir())
    assert len(installed) == 1 and installed[0].name.startswith("strongroom-") and installed[0].suffix == ".crt"
    assert installed[0].read_bytes() == pathlib.Path(dev_server.ca).read_bytes()
    assert system.update_runs() == 1
    added = system.hosts.read_text().removeprefix(original)
    assert added.startswith(
        f"{AZURE_ADDRESS} login.microsoftonline.com management.azure.com graph.microsoft.com dev.vault.azure.net "
        f"devhsm.managedhsm.azure.net {MARK}"
    ), added
    assert added.count("\n") == 1
    assert f"added the CA to the system trust store: {installed[0]}" in first
    assert f"added to {system.hosts}: {AZURE_ADDRESS} login.microsoftonline.com" in first
    assert f"note: line 3 of {system.hosts} maps graph.microsoft.com elsewhere" in first, "the user's own line wins"
    printed = strongroom("trust", "hosts", *names).stdout
    assert printed == added, "`trust hosts` prints exactly what `install` writes"

    # Again: nothing changes, and it says so.
    again = strongroom("trust", "install", *names, *system.args()).stdout
    assert system.hosts.read_text() == original + added
    assert system.update_runs() == 1, "the bundle is not rebuilt for nothing"
    assert "the CA is already in the system trust store" in again
    assert f"{system.hosts} already maps login.microsoftonline.com" in again

    # The dev server's own names go on a line of their own.
    local = strongroom("trust", "install", *data, "--vault", "dev", "--vault", "team", *system.args()).stdout
    assert (
        f"added to {system.hosts}: 127.0.0.1 management.localhost graph.localhost dev.vault.localhost "
        "team.vault.localhost" in local
    )

    removed = strongroom("trust", "uninstall", *data, *system.args()).stdout
    assert system.hosts.read_text() == original, "every line of ours goes, and nothing else"
    assert list(system.ca_dir.iterdir()) == []
    assert system.update_runs() == 2
    assert f"removed the CA from the system trust store: {installed[0]}" in removed
    assert removed.count(f"removed from {system.hosts}:") == 2

    nothing = strongroom("trust", "uninstall", *data, *system.args()).stdout
    assert "the CA was not in the system trust store" in nothing and "has no line of this installation's" in nothing
    assert system.update_runs() == 2


def test_trust_refuses_an_unsupported_system_and_changes_nothing(dev_server, tmp_path):
    system = System(tmp_path)
    original = system.hosts.read_text()
    unsupported = strongroom(
        "trust", "install", "--data-dir", str(dev_server.data_dir), "--ca-dir", str(system.ca_dir),
        "--update-command", str(tmp_path / "no-such-command"), "--hosts-file", str(system.hosts), check=False,
    )
    assert unsupported.returncode != 0
    assert "not supported on this system" in unsupported.stderr and "nothing was changed" in unsupported.stderr
    assert "update-ca-trust" in unsupported.stderr, "it says what to do elsewhere"
    assert system.hosts.read_text() == original and list(system.ca_dir.iterdir()) == []

    missing = strongroom("trust", "install", "--data-dir", str(tmp_path / "none"), *system.args(), check=False)
    assert missing.returncode != 0 and "start `strongroom dev --data-dir" in missing.stderr


def test_trust_without_permission_is_refused_and_changes_nothing(dev_server):
    if os.geteuid() != 0 or not shutil.which("setpriv"):
        pytest.skip("running as another user needs root and setpriv")
    # Everything the unprivileged user needs to read is in a folder it may enter; what it would change is root's.
    folder = pathlib.Path(tempfile.mkdtemp())
    try:
        folder.chmod(0o755)
        binary = folder / "strongroom"
        shutil.copy(BINARY, binary)
        data_dir = folder / "data"
        data_dir.mkdir()
        shutil.copy(dev_server.ca, data_dir / "ca.pem")
        system = System(folder)
        for path in [system.ca_dir, system.hosts, data_dir, data_dir / "ca.pem"]:
            path.chmod(path.stat().st_mode | stat.S_IROTH | (stat.S_IXOTH if path.is_dir() else 0))
        original = system.hosts.read_text()
        refused = subprocess.run(
            ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", str(binary), "trust", "install",
             "--data-dir", str(data_dir), *system.args()],
            capture_output=True, text=True, timeout=60, cwd=folder,
        )
        assert refused.returncode != 0
        assert "permission denied" in refused.stderr and "needs root" in refused.stderr, refused.stderr
        assert "nothing was changed" in refused.stderr
        assert system.hosts.read_text() == original and list(system.ca_dir.iterdir()) == []
        assert system.update_runs() == 0
    finally:
        shutil.rmtree(folder)


@pytest.fixture
def azure_named_dev(tmp_path):
    """`strongroom dev --azure-hostnames`, its names put into /etc/hosts by `strongroom trust install` (the trust
    store a folder of the test's own) and taken out again by `strongroom trust uninstall`."""
    if os.geteuid() != 0:
        pytest.skip("the Azure-hostname mode binds port 443 and edits /etc/hosts, which needs root")
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    args = ["dev", "--azure-hostnames", "--azure-listen", f"{AZURE_ADDRESS}:443", "--listen", "127.0.0.1:0"]
    server = Server([*args, "--data-dir", str(data_dir)], data_dir).start()
    system = System(tmp_path)
    trust = ["--data-dir", str(data_dir), *system.args(hosts=False)]
    try:
        installed = strongroom("trust", "install", *trust, "--azure-hostnames", "--address", AZURE_ADDRESS).stdout
        assert "added to /etc/hosts:" in installed
        yield server
    finally:
        try:
            strongroom("trust", "uninstall", *trust)
            assert MARK not in pathlib.Path("/etc/hosts").read_text()
        finally:
            server.stop()


def test_code_written_for_azure_runs_unchanged_against_dev(azure_named_dev, monkeypatch):
    env = read_env_file(azure_named_dev.data_dir / "dev.env")
    assert "AZURE_AUTHORITY_HOST" not in env, "code written for Azure is never told the authority"
    assert env["VAULT_URL"] == "https://dev.vault.azure.net"
    banner = "".join(azure_named_dev.output)
    assert "management    https://management.azure.com" in banner and "graph         https://graph.microsoft.com" in banner
    assert "answering as Azure" in banner and "strongroom trust install --azure-hostnames" in banner
    assert "dev.env sets no AZURE_AUTHORITY_HOST" in banner
    assert any(line.startswith("strongroom also listening on https://127.0.0.1:") for line in azure_named_dev.output)
    assert azure_named_dev.port == 443

    # `source dev.env`, in an environment where nothing else speaks for a credential.
    for name in OTHER_CREDENTIAL_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)

    # Exactly what an application written for Azure does.
    client = SecretClient("https://dev.vault.azure.net", DefaultAzureCredential())
    client.set_secret("greeting", "hello from code written for Azure")
    assert client.get_secret("greeting").value == "hello from code written for Azure"

    # Resource Manager and Graph answer at Azure's URLs too, to tokens asked for by those URLs.
    credential = DefaultAzureCredential()
    arm = credential.get_token("https://management.azure.com/.default").token
    vaults = requests.get(
        f"https://management.azure.com/subscriptions/{env['AZURE_TENANT_ID']}/resourceGroups/strongroom/providers/"
        "Microsoft.KeyVault/vaults",
        params={"api-version": "2023-07-01"}, headers={"Authorization": f"Bearer {arm}"}, timeout=30,
    )
    assert vaults.status_code == 200, vaults.text
    assert "dev" in [vault["name"] for vault in vaults.json()["value"]]
    graph = credential.get_token("https://graph.microsoft.com/.default").token
    apps = requests.get(
        "https://graph.microsoft.com/v1.0/applications", headers={"Authorization": f"Bearer {graph}"}, timeout=30
    )
    assert apps.status_code == 200 and "dev-app" in apps.text, apps.text

    # The admin commands, as the banner says, reach the server on its usual listener.
    usual = next(line for line in azure_named_dev.output if line.startswith("strongroom also listening on https://"))
    port = usual.strip().rsplit(":", 1)[1]
    listed = strongroom("--authority-host", f"https://localhost:{port}", "keyvault", "list").stdout
    assert "dev" in listed

    if not (JS_DIR / "node_modules" / "@azure" / "identity").exists():
        if os.environ.get("CI") == "true":
            pytest.fail("tests/js/node_modules is missing: scripts/node-env installs it (scripts/test does first)")
        pytest.skip("the JavaScript half needs tests/js/node_modules (scripts/node-env)")
    # NODE_EXTRA_CA_CERTS is read when Node starts: the environment of a new process, as a shell gives it.
    node = subprocess.run(
        ["node", str(JS_DIR / "azure-names.mjs"), "greeting"],
        capture_output=True, text=True, timeout=120, cwd=JS_DIR, env=dict(os.environ),
    )
    assert node.returncode == 0, node.stderr
    assert node.stdout.strip() == "hello from code written for Azure"
