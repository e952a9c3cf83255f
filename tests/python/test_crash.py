"""Durability under SIGKILL, on SQLite and (when STRONGROOM_TEST_POSTGRES names a server) PostgreSQL.

Each trial starts the real server on the same store, checks that every write acknowledged before the last kill
is there with its value, then runs writers with the unmodified SDK and kills the server with SIGKILL at a random
moment. After each kill, `strongroom check` must find the store intact (database check, version numbering, every
sealed value opens)."""

import os
import random
import signal
import subprocess
import threading
import time

import pytest
from azure.core.exceptions import AzureError
from azure.identity import ClientSecretCredential
from azure.keyvault.secrets import SecretClient

from conftest import BINARY, POSTGRES, Server, fresh_postgres_database, read_env_file

TRIALS = 8
WRITERS = 3


def backends():
    yield "sqlite"
    if POSTGRES:
        yield "postgres"
    else:
        print("STRONGROOM_TEST_POSTGRES is not set: the PostgreSQL crash test is skipped")


def client(data_dir):
    env = read_env_file(data_dir / "dev.env")
    credential = ClientSecretCredential(
        env["AZURE_TENANT_ID"],
        env["AZURE_CLIENT_ID"],
        env["AZURE_CLIENT_SECRET"],
        authority=env["AZURE_AUTHORITY_HOST"],
        disable_instance_discovery=True,
        connection_verify=env["SSL_CERT_FILE"],
    )
    # No retries: a write either comes back acknowledged or not at all.
    return SecretClient(env["VAULT_URL"], credential, connection_verify=env["SSL_CERT_FILE"], retry_total=0)


def check(storage_args, data_dir):
    done = subprocess.run(
        [BINARY, "check", "--data-dir", str(data_dir), *storage_args],
        capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=120,
    )
    assert done.returncode == 0 and done.stdout.strip().endswith("intact"), done.stdout + done.stderr


@pytest.mark.parametrize("backend", list(backends()))
def test_every_acknowledged_write_survives_sigkill(backend, tmp_path):
    storage_args = ["--storage", fresh_postgres_database()] if backend == "postgres" else []
    args = ["dev", "--listen", "127.0.0.1:0", "--data-dir", str(tmp_path), *storage_args]
    seed = random.randrange(1 << 30)
    chance = random.Random(seed)
    acknowledged = {}  # (name, version) -> value
    unverified = []
    lock = threading.Lock()
    for trial in range(TRIALS + 1):
        server = Server(args, tmp_path).start()
        try:
            secrets = client(tmp_path)
            for name, version in unverified:
                assert secrets.get_secret(name, version).value == acknowledged[(name, version)], (seed, trial, name)
            if trial == TRIALS:
                break
            unverified = []
            stop = threading.Event()

            def write(writer):
                n = 0
                while not stop.is_set():
                    # Half the writes add versions to one shared name, half create names.
                    name = "shared" if n % 2 else f"t{trial}-w{writer}-{n}"
                    value = f"value-{trial}-{writer}-{n}"
                    try:
                        version = secrets.set_secret(name, value).properties.version
                    except AzureError:
                        return
                    with lock:
                        acknowledged[(name, version)] = value
                        unverified.append((name, version))
                    n += 1

            threads = [threading.Thread(target=write, args=(w,)) for w in range(WRITERS)]
            for thread in threads:
                thread.start()
            time.sleep(chance.uniform(0.3, 1.2))
            os.kill(server.process.pid, signal.SIGKILL)
            server.process.wait()
            stop.set()
            for thread in threads:
                thread.join(timeout=30)
        finally:
            server.stop()
        check(storage_args, tmp_path)
    print(f"{backend}: {len(acknowledged)} acknowledged writes survived {TRIALS} kills (seed {seed})")
    assert len(acknowledged) > TRIALS * 5, f"too few writes to mean anything ({len(acknowledged)})"
    shared = [version for (name, version) in acknowledged if name == "shared"]
    server = Server(args, tmp_path).start()
    try:
        listed = {p.version for p in client(tmp_path).list_properties_of_secret_versions("shared")}
        assert set(shared) <= listed, seed
    finally:
        server.stop()
