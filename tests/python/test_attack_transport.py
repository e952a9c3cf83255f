"""Operations seen by an attacker who reads what the operator's terminal and CI logs show, or the data
directory as another local user: `strongroom dev` never prints its client secret, and keeps its data private."""

import os
import pathlib
import stat
import subprocess
import tempfile
import time

from conftest import BINARY, READY, read_env_file


def test_the_dev_banner_tells_where_the_client_secret_is_without_printing_it():
    with tempfile.TemporaryDirectory() as parent:
        data_dir = pathlib.Path(parent) / "data"
        process = subprocess.Popen(
            [BINARY, "dev", "--listen", "127.0.0.1:0", "--data-dir", str(data_dir)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
        )
        try:
            printed = []
            deadline = time.monotonic() + 60
            for line in process.stdout:
                printed.append(line)
                if line.startswith(READY) or time.monotonic() > deadline:
                    break
            banner = "".join(printed)
            assert READY in banner, banner
            secret = read_env_file(data_dir / "dev.env")["AZURE_CLIENT_SECRET"]
            assert len(secret) >= 32
            assert secret not in banner
            assert str(data_dir / "dev.env") in banner, "the banner says where the secret is"
            # The data directory and the credential file are the user's alone.
            assert stat.S_IMODE(os.stat(data_dir).st_mode) == 0o700
            for name in ["dev.env", "root.key", "strongroom.db", "audit.log"]:
                assert stat.S_IMODE(os.stat(data_dir / name).st_mode) == 0o600, name
        finally:
            process.terminate()
            process.wait(timeout=10)
        assert secret not in process.stderr.read()
