"""Runs one of Microsoft's samples unchanged, as `python SAMPLE` would, in a process whose name lookups send Azure's
names (`login.microsoftonline.com`, `*.vault.azure.net`, `*.managedhsm.azure.net`, `management.azure.com`,
`graph.microsoft.com`) to the
address in STRONGROOM_SAMPLES_ADDRESS: what the hosts-file line `strongroom trust install --azure-hostnames` adds
does for a user, without changing this machine's /etc/hosts. TLS still checks the real host names.

Usage: STRONGROOM_SAMPLES_ADDRESS=127.0.0.7 python run_sample.py SAMPLE.py
"""

import os
import runpy
import socket
import sys

ADDRESS = os.environ["STRONGROOM_SAMPLES_ADDRESS"]
AZURE_NAMES = ("login.microsoftonline.com", "management.azure.com", "graph.microsoft.com")
_system_getaddrinfo = socket.getaddrinfo


def _getaddrinfo(host, *args, **kwargs):
    if isinstance(host, str) and (host in AZURE_NAMES or host.endswith((".vault.azure.net", ".managedhsm.azure.net"))):
        host = ADDRESS
    return _system_getaddrinfo(host, *args, **kwargs)


socket.getaddrinfo = _getaddrinfo
sample = sys.argv[1]
sys.argv = sys.argv[1:]
runpy.run_path(sample, run_name="__main__")
