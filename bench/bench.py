"""Strongroom's benchmark suite; run it with bench/run, which provides the binaries and the Python environment.

Workloads (wrk, keep-alive, HTTPS unless said otherwise):
  1. authenticated GET /secrets/{name} with RBAC and a firewall rule on, 1 and 64 connections;
  2. the baseline: nginx answering a static 200 over TLS 1.3, same client and connections;
  3. the peer: OpenBao (dev server, plain HTTP, its easiest case) reading a KV v1 secret with its root token;
  4. client-credentials grants per second at the token endpoint;
  5. durable PUT /secrets/{name} (new secrets) per second;
  6. cold start and resident memory with many secrets in a vault, and the cost of one page of its list;
  7. POST /keys/{name}/sign with RSA-2048 (RS256) and EC P-256 (ES256), beside the signing rate of the same
     library on one core of the same machine (crates/core/examples/sign_rate.rs);
  8. workloads 1 (64 connections) and 5 again on a node whose store is PostgreSQL, when bench/run found one
     (the database shares the machine, and its server is not pinned).
"""

import argparse
import base64
import contextlib
import datetime
import os
import pathlib
import platform
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
import time

import requests
import urllib3

urllib3.disable_warnings()

TENANT = "5e7c0d1a-0000-4000-8000-0000000000b1"
APP = "5e7c0d1a-0000-4000-8000-0000000000a1"
APP_SECRET = "bench-app-secret-0123456789"
VALUE = "a-secret-value-of-some-forty-two-bytes-ok"
BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def on_cpu(cpu):
    """taskset prefix pinning a process to `cpu`, when the machine has two CPUs or more."""
    if (os.cpu_count() or 1) >= 2 and shutil.which("taskset"):
        return ["taskset", "-c", str(cpu)]
    return []


SERVER_CPU, LOAD_CPU = 0, 1


@contextlib.contextmanager
def running(cmd, ready, log, env=None, timeout=120):
    """Starts `cmd`, waits until `ready()` is true, and stops it (and waits for it) at the end."""
    with open(log, "ab") as out:
        process = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)
    try:
        deadline = time.monotonic() + timeout
        while not ready():
            if process.poll() is not None:
                raise RuntimeError(f"{cmd[0]} exited early; see {log}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{cmd[0]} did not get ready; see {log}")
            time.sleep(0.05)
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def log_says(log, text):
    return lambda: pathlib.Path(log).exists() and text in pathlib.Path(log).read_text(errors="replace")


def http_ok(url, **kwargs):
    def ready():
        try:
            return requests.get(url, timeout=1, verify=False, **kwargs).status_code < 500
        except requests.RequestException:
            return False

    return ready


UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def wrk(url, connections, seconds, headers=(), script=None):
    threads = 1 if connections < 2 else 2
    cmd = [*on_cpu(LOAD_CPU), "wrk", "-t", str(threads), "-c", str(connections), "-d", f"{seconds}s", "--latency"]
    for header in headers:
        cmd += ["-H", header]
    if script:
        cmd += ["-s", str(script)]
    out = subprocess.run([*cmd, url], capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    latency = {p: float(v) * UNITS[u] for p, v, u in re.findall(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)}
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if errors:
        raise RuntimeError(f"{url}: {errors.group(1)} failed requests under load:\n{out}")
    return {"rps": rps, "p50": latency.get("50"), "p99": latency.get("99")}


def write_lua(folder, name, text):
    path = pathlib.Path(folder) / name
    path.write_text(textwrap.dedent(text))
    return path


def strongroom_config(folder, port, seeds=0, big=False, storage=None):
    seeded = "".join(f'[[tenant.vault.secret]]\nname = "s{i:07d}"\nvalue = "{VALUE}"\n' for i in range(seeds))
    big_vault = (
        f'[[tenant.vault]]\nname = "big"\n[[tenant.vault.role_assignment]]\nprincipal = "bench-app"\n'
        f'role = "Key Vault Secrets User"\n{seeded}'
        if big
        else ""
    )
    return textwrap.dedent(
        f"""
        [server]
        listen = "127.0.0.1:{port}"
        data_dir = "{folder}"
        login_host = "localhost"
        vault_domain = "vault.localhost"
        {f'storage = "{storage}"' if storage else ""}

        # The benchmark measures the server's own rate: Key Vault's service limits (429 past 4,000 reads per
        # vault and 10 s) would cap it.
        [service_limits]
        preset = "off"

        [[tenant]]
        name = "bench"
        id = "{TENANT}"

        [[tenant.app]]
        name = "bench-app"
        client_id = "{APP}"
        secrets = ["{APP_SECRET}"]

        [[tenant.vault]]
        name = "bench"

        [tenant.vault.network]
        default_action = "deny"
        ip_rules = ["127.0.0.1/32"]

        [[tenant.vault.role_assignment]]
        principal = "bench-app"
        role = "Key Vault Secrets Officer"

        [[tenant.vault.role_assignment]]
        principal = "bench-app"
        role = "Key Vault Crypto Officer"

        [[tenant.vault.secret]]
        name = "bench"
        value = "{VALUE}"
        """
    ) + big_vault


def token(port, ca):
    form = {
        "grant_type": "client_credentials",
        "client_id": APP,
        "client_secret": APP_SECRET,
        "scope": f"https://vault.localhost:{port}/.default",
    }
    response = requests.post(f"https://localhost:{port}/{TENANT}/oauth2/v2.0/token", data=form, verify=ca, timeout=10)
    response.raise_for_status()
    return response.json()["access_token"]


def rss_mib(pid):
    status = pathlib.Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmRSS:\s+(\d+) kB", status).group(1)) / 1024


def bench_strongroom(binary, folder, seconds, storage=None):
    """Every Strongroom workload on SQLite; with `storage`, the warm GET (64 connections) and the PUT on it."""
    port = free_port()
    config = pathlib.Path(folder) / "strongroom.toml"
    config.write_text(strongroom_config(folder, port, storage=storage))
    log = pathlib.Path(folder) / "strongroom.log"
    results = {}
    with running([*on_cpu(SERVER_CPU), binary, "serve", "--config", str(config)], log_says(log, "listening on"), log):
        ca = str(pathlib.Path(folder) / "ca.pem")
        bearer = token(port, ca)
        host = f"Host: bench.vault.localhost:{port}"
        url = f"https://127.0.0.1:{port}/secrets/bench?api-version=7.6"
        # The first request warms the token and secret caches; the load measures the warm path.
        requests.get(url, headers={"Host": host.split(": ")[1], "Authorization": f"Bearer {bearer}"}, verify=False)
        for connections in (1, 64) if storage is None else (64,):
            results[f"get-{connections}"] = wrk(url, connections, seconds, [host, f"Authorization: Bearer {bearer}"])
        put = write_lua(folder, "put.lua", f"""
            local n = 0
            request = function()
              n = n + 1
              local body = '{{"value":"{VALUE}"}}'
              return wrk.format("PUT", "/secrets/w" .. n .. "?api-version=7.6",
                {{["Host"] = "bench.vault.localhost:{port}", ["Authorization"] = "Bearer {bearer}",
                  ["Content-Type"] = "application/json"}}, body)
            end
        """)
        results["put"] = wrk(f"https://127.0.0.1:{port}/", 16, seconds, (), put)
        if storage is not None:
            return results
        form = (
            f"grant_type=client_credentials&client_id={APP}&client_secret={APP_SECRET}"
            f"&scope=https%3A%2F%2Fvault.localhost%3A{port}%2F.default"
        )
        grant = write_lua(folder, "grant.lua", f"""
            wrk.method = "POST"
            wrk.body = "{form}"
            wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
        """)
        results["grant"] = wrk(f"https://127.0.0.1:{port}/{TENANT}/oauth2/v2.0/token", 16, seconds, [f"Host: localhost:{port}"], grant)
        vault = {"Host": f"bench.vault.localhost:{port}", "Authorization": f"Bearer {bearer}"}
        digest = base64.urlsafe_b64encode(bytes(range(32))).decode().rstrip("=")
        for name, key, alg in (("sign-rs256", {"kty": "RSA", "key_size": 2048}, "RS256"), ("sign-es256", {"kty": "EC", "crv": "P-256"}, "ES256")):
            created = requests.post(f"https://127.0.0.1:{port}/keys/{name}/create?api-version=7.6", json=key, headers=vault, verify=False)
            created.raise_for_status()
            sign = write_lua(folder, f"{name}.lua", f"""
                wrk.method = "POST"
                wrk.body = '{{"alg":"{alg}","value":"{digest}"}}'
                wrk.headers["Content-Type"] = "application/json"
            """)
            url = f"https://127.0.0.1:{port}/keys/{name}/sign?api-version=7.6"
            results[name] = wrk(url, 16, seconds, [host, f"Authorization: Bearer {bearer}"], sign)
    return results


def bench_postgres(binary, folder, seconds, admin_url):
    """Workload 8 on a database of its own, dropped afterwards."""
    name = f"strongroom_bench_{os.getpid()}"
    psql = lambda sql: subprocess.run(["psql", admin_url, "-XqAtc", sql], check=True, stdin=subprocess.DEVNULL)
    psql(f"CREATE DATABASE {name}")
    try:
        return bench_strongroom(binary, folder, seconds, storage=database_url(admin_url, name))
    finally:
        psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def database_url(url, name):
    """`url` naming the database `name` instead."""
    scheme, rest = url.split("://", 1)
    query = ""
    if "?" in rest:
        rest, query = rest.split("?", 1)
        query = "?" + query
    authority = rest.split("/", 1)[0]
    return f"{scheme}://{authority}/{name}{query}"


def bench_sign_library(sign_rate, seconds):
    """The library's own signing rate on the servers' core: the ceiling of the sign workloads."""
    out = subprocess.run([*on_cpu(SERVER_CPU), sign_rate, str(seconds)], capture_output=True, text=True, check=True).stdout
    return {name: float(value) for name, value in (line.split() for line in out.splitlines())}


def bench_nginx(folder, seconds):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    folder = pathlib.Path(folder)
    (folder / "nginx.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "nginx.key").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    port = free_port()
    body = '{"value":"%s","id":"https://bench.vault.localhost/secrets/bench/0123456789abcdef0123456789abcdef"}' % VALUE
    (folder / "nginx.conf").write_text(textwrap.dedent(f"""
        worker_processes 1;
        daemon off;
        pid {folder}/nginx.pid;
        error_log {folder}/nginx-error.log;
        events {{ worker_connections 1024; }}
        http {{
          access_log off;
          client_body_temp_path {folder}/nginx-body;
          proxy_temp_path {folder}/nginx-proxy;
          fastcgi_temp_path {folder}/nginx-fastcgi;
          uwsgi_temp_path {folder}/nginx-uwsgi;
          scgi_temp_path {folder}/nginx-scgi;
          keepalive_requests 100000000;
          server {{
            listen 127.0.0.1:{port} ssl;
            ssl_certificate {folder}/nginx.crt;
            ssl_certificate_key {folder}/nginx.key;
            ssl_protocols TLSv1.3;
            location / {{ default_type application/json; return 200 '{body}'; }}
          }}
        }}
    """))
    url = f"https://127.0.0.1:{port}/secrets/bench"
    cmd = [*on_cpu(SERVER_CPU), "nginx", "-p", str(folder), "-c", str(folder / "nginx.conf")]
    with running(cmd, http_ok(url), folder / "nginx.log"):
        return {f"get-{c}": wrk(url, c, seconds, ["Authorization: Bearer x"]) for c in (1, 64)}


def bench_openbao(bao, folder, seconds):
    port = free_port()
    address = f"http://127.0.0.1:{port}"
    cmd = [*on_cpu(SERVER_CPU), bao, "server", "-dev", "-dev-root-token-id=root", f"-dev-listen-address=127.0.0.1:{port}"]
    env = {**os.environ, "HOME": str(folder)}
    with running(cmd, http_ok(f"{address}/v1/sys/health"), pathlib.Path(folder) / "openbao.log", env=env):
        root = {"X-Vault-Token": "root"}
        requests.post(f"{address}/v1/sys/mounts/kv1", json={"type": "kv", "options": {"version": "1"}}, headers=root).raise_for_status()
        requests.put(f"{address}/v1/kv1/bench", json={"value": VALUE}, headers=root).raise_for_status()
        url = f"{address}/v1/kv1/bench"
        return {f"get-{c}": wrk(url, c, seconds, ["X-Vault-Token: root"]) for c in (1, 64)}


def bench_scale(binary, folder, secrets):
    """Cold start and memory with `secrets` secrets in a vault, and the time of one page of its list."""
    folder = pathlib.Path(folder)
    port = free_port()
    config = folder / "strongroom.toml"
    log = folder / "strongroom.log"
    config.write_text(strongroom_config(folder, port, secrets, big=True))
    started = time.monotonic()
    with running([binary, "serve", "--config", str(config)], log_says(log, "listening on"), log, timeout=1800):
        seeded_in = time.monotonic() - started
    # The second start is the cold start: the secrets are stored, the configuration no longer lists them.
    config.write_text(strongroom_config(folder, port, 0, big=True))
    log.write_text("")
    started = time.monotonic()
    with running([*on_cpu(SERVER_CPU), binary, "serve", "--config", str(config)], log_says(log, "listening on"), log) as server:
        cold_start = time.monotonic() - started
        ca = str(folder / "ca.pem")
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {token(port, ca)}"
        host = {"Host": f"big.vault.localhost:{port}"}
        first = session.get(f"https://127.0.0.1:{port}/secrets?api-version=7.6&maxresults=25", headers=host, verify=False).json()
        assert len(first["value"]) == 25, first
        pages, timings, link = 0, [], first.get("nextLink")
        while link and pages < 40:
            path = link.split(f"{port}", 1)[1]
            started = time.monotonic()
            page = session.get(f"https://127.0.0.1:{port}{path}", headers=host, verify=False).json()
            timings.append(time.monotonic() - started)
            link, pages = page.get("nextLink"), pages + 1
        rss = rss_mib(server.pid)
    timings.sort()
    return {"secrets": secrets, "seeded_s": seeded_in, "cold_start_s": cold_start, "rss_mib": rss,
            "page_ms": timings[len(timings) // 2] * 1000 if timings else None}


def machine():
    cpu = "unknown CPU"
    with contextlib.suppress(OSError):
        model = re.search(r"model name\s*:\s*(.*)", pathlib.Path("/proc/cpuinfo").read_text())
        cpu = model.group(1).strip() if model else cpu
    memory = 0
    with contextlib.suppress(OSError):
        memory = int(re.search(r"MemTotal:\s+(\d+)", pathlib.Path("/proc/meminfo").read_text()).group(1)) // (1024 * 1024)
    return f"{os.cpu_count()} cores, {memory} GiB, {cpu}, {platform.system()} {platform.release()}"


def fmt(value, digits=0):
    return "—" if value is None else f"{value:,.{digits}f}"


def table(strongroom, nginx, openbao, scale, sign_library, postgres, args):
    get64, ngx64, bao64 = strongroom["get-64"]["rps"], nginx["get-64"]["rps"], openbao["get-64"]["rps"]
    vs_nginx, vs_bao = get64 / ngx64, get64 / bao64
    grants = strongroom["grant"]["rps"]
    pinning = "servers on CPU 0, wrk on CPU 1 (taskset)" if on_cpu(0) else "not pinned (one CPU)"
    lines = [
        f"Measured {datetime.date.today().isoformat()} by `bench/run` on {machine()}; {pinning}; wrk "
        f"{args.seconds} s per workload, keep-alive.",
        "",
        "| ratio (64 connections, warm `GET /secrets/{name}`) | measured | goal | met |",
        "|---|---:|---:|---|",
        f"| Strongroom / nginx static 200 over TLS 1.3 (physical-limit baseline) | {vs_nginx:.2f} | ≥ 0.6 | {'yes' if vs_nginx >= 0.6 else 'no'} |",
        f"| Strongroom / OpenBao {args.openbao_version} KV v1 read (plain HTTP, root token) | {vs_bao:.2f} | ≥ 3 | {'yes' if vs_bao >= 3 else 'no'} |",
        f"| token endpoint, client-credentials grants per second | {grants:,.0f} | ≥ 2,000 | {'yes' if grants >= 2000 else 'no'} |",
        "",
        "| workload | connections | requests/s | p50 ms | p99 ms |",
        "|---|---:|---:|---:|---:|",
    ]
    rows = [
        ("Strongroom `GET /secrets/{name}` (HTTPS, RBAC, firewall rule)", strongroom, "get"),
        ("nginx static 200 (HTTPS)", nginx, "get"),
        (f"OpenBao KV v1 read (HTTP)", openbao, "get"),
    ]
    for name, results, key in rows:
        for c in (1, 64):
            r = results[f"{key}-{c}"]
            lines.append(f"| {name} | {c} | {fmt(r['rps'])} | {fmt(r['p50'], 2)} | {fmt(r['p99'], 2)} |")
    for name, key in (("Strongroom token endpoint, client_credentials", "grant"), ("Strongroom `PUT /secrets/{name}` (new secret, durable)", "put")):
        r = strongroom[key]
        lines.append(f"| {name} | 16 | {fmt(r['rps'])} | {fmt(r['p50'], 2)} | {fmt(r['p99'], 2)} |")
    if postgres:
        for name, key, c in (
            ("Strongroom on PostgreSQL, `GET /secrets/{name}` (warm)", "get-64", 64),
            ("Strongroom on PostgreSQL, `PUT /secrets/{name}` (new secret, committed)", "put", 16),
        ):
            r = postgres[key]
            lines.append(f"| {name} | {c} | {fmt(r['rps'])} | {fmt(r['p50'], 2)} | {fmt(r['p99'], 2)} |")
    lines += [
        "",
        "| signing (one server core) | `POST /keys/{name}/sign`, 16 connections | p50 ms | aws-lc-rs alone, one thread | API / library |",
        "|---|---:|---:|---:|---:|",
    ]
    for label, key, raw in (("RS256, RSA-2048", "sign-rs256", "rs256-library"), ("ES256, P-256", "sign-es256", "es256-library")):
        api, library = strongroom[key], sign_library[raw]
        lines.append(f"| {label} | {fmt(api['rps'])} | {fmt(api['p50'], 2)} | {fmt(library)} | {api['rps'] / library:.2f} |")
    lines += [
        "",
        "| secrets in one vault | cold start (to listening) | resident memory after listing | one 25-item page of the list (median) | seeding them through the configuration |",
        "|---:|---:|---:|---:|---:|",
    ]
    for s in scale:
        lines.append(
            f"| {s['secrets']:,} | {s['cold_start_s']:.2f} s | {fmt(s['rss_mib'], 1)} MiB | {fmt(s['page_ms'], 2)} ms | {s['seeded_s']:.1f} s |"
        )
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--strongroom", required=True)
    parser.add_argument("--bao", required=True)
    parser.add_argument("--sign-rate", required=True)
    parser.add_argument("--openbao-version", required=True)
    parser.add_argument("--smoke", action="store_true", help="a few seconds, nothing written")
    parser.add_argument("--postgres", default="", help="a PostgreSQL server's URL, for workload 8")
    args = parser.parse_args()
    args.seconds = 1 if args.smoke else 10
    sizes = (200, 2_000) if args.smoke else (100_000, 1_000_000)
    with tempfile.TemporaryDirectory() as folder:
        for name in ("strongroom", "postgres", "nginx", "openbao", *(f"scale-{n}" for n in sizes)):
            (pathlib.Path(folder) / name).mkdir()
        strongroom = bench_strongroom(args.strongroom, f"{folder}/strongroom", args.seconds)
        postgres = bench_postgres(args.strongroom, f"{folder}/postgres", args.seconds, args.postgres) if args.postgres else None
        nginx = bench_nginx(f"{folder}/nginx", args.seconds)
        openbao = bench_openbao(args.bao, f"{folder}/openbao", args.seconds)
        scale = [bench_scale(args.strongroom, f"{folder}/scale-{n}", n) for n in sizes]
        sign_library = bench_sign_library(args.sign_rate, args.seconds / 2)
    text = table(strongroom, nginx, openbao, scale, sign_library, postgres, args)
    print(text)
    if not args.smoke:
        doc = pathlib.Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"
        current = doc.read_text()
        start, end = current.index(BEGIN) + len(BEGIN), current.index(END)
        doc.write_text(current[:start] + "\n" + text + "\n" + current[end:])
        print(f"\nwritten to {doc}", file=sys.stderr)


if __name__ == "__main__":
    main()
