"""Loaded at start-up by every Azure CLI process of test_azure_cli.py (this folder is on their PYTHONPATH).

It does for the `az` process what a hosts-file line does for a user: `localhost` and every `*.localhost` name
resolve to the loopback address the test server listens on (STRONGROOM_AZ_LOOPBACK). glibc does not resolve
`*.localhost`, and the vaults the CLI creates get names only at run time, which no fixed hosts line covers. The
CLI is not otherwise touched: it connects by name and TLS verifies those names against the installation's CA.
"""

import os
import socket

_LOOPBACK = os.environ.get("STRONGROOM_AZ_LOOPBACK")

if _LOOPBACK:
    _system_getaddrinfo = socket.getaddrinfo

    def _getaddrinfo(host, *args, **kwargs):
        if isinstance(host, str) and (host == "localhost" or host.endswith(".localhost")):
            host = _LOOPBACK
        return _system_getaddrinfo(host, *args, **kwargs)

    socket.getaddrinfo = _getaddrinfo
