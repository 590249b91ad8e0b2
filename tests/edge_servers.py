"""Real nginx and Varnish on loopback, with the configuration `compliance edge` generates.

Each runs in a temporary prefix / working folder on a free 127.0.0.1 port, in the
foreground, and is stopped (by its own process id) when the context ends. They are
installed by `make test` (`make system-deps`); a missing one is an error, never a skip.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

from tests.server import free_port

NGINX: str = shutil.which("nginx") or "/usr/sbin/nginx"
VARNISHD: str = shutil.which("varnishd") or "/usr/sbin/varnishd"
GEOIP2_MODULE = "/usr/lib/nginx/modules/ngx_http_geoip2_module.so"
MISSING = "nginx, libnginx-mod-http-geoip2 and varnish are needed: run `make system-deps` (apt-get, as root)"


def require() -> None:
    if not (Path(NGINX).exists() and Path(VARNISHD).exists() and Path(GEOIP2_MODULE).exists()):
        raise RuntimeError(MISSING)


def _wait_for_port(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited: {log.read_text(errors='replace') if log.exists() else ''}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return
        time.sleep(0.05)
    raise RuntimeError("the server did not start listening")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextlib.contextmanager
def nginx_serving(prefix: Path, http: str, *, main: str = "") -> Iterator[str]:
    """nginx in the foreground in `prefix`, with `http` inside its `http {}` block; yields its base URL.

    In `http`, `@PORT@` stands for a free loopback port (for its `listen`), `@PREFIX@` for the prefix;
    `main` goes before the `events` block (`load_module`, `user`). One worker, no access log,
    every temporary folder in the prefix; stopped by its own process id at the end.
    """
    (prefix / "logs").mkdir(parents=True, exist_ok=True)
    port = free_port()
    conf = prefix / "nginx.conf"
    body = http.replace("@PORT@", str(port)).replace("@PREFIX@", str(prefix))
    conf.write_text(
        f"""
{main}
worker_processes 1;
error_log {prefix}/logs/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {prefix}/client_body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
{body}
}}
"""
    )
    log = prefix / "logs" / "error.log"
    process = subprocess.Popen(
        [NGINX, "-p", str(prefix), "-c", str(conf), "-g", f"daemon off; pid {prefix}/nginx.pid;"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_for_port(port, process, log)
        yield f"http://127.0.0.1:{port}"
    finally:
        _stop(process)


@contextlib.contextmanager
def nginx(tmp: Path, http: str, location: str, upstream: str, *, extra_http: str = "") -> Iterator[str]:
    """nginx with `proxy_cache` in front of `upstream` (a base URL); yields nginx's base URL.

    `http` and `location` are the generated snippets; responses carry `X-Cache`
    (nginx's cache status). `proxy_cache_valid` makes nginx store whatever the app does
    not forbid, the harshest case for a leak.
    """
    require()
    prefix = tmp / "nginx"
    prefix.mkdir(parents=True, exist_ok=True)
    (prefix / "compliance-http.conf").write_text(http)
    (prefix / "compliance-location.conf").write_text(location)
    server = f"""
    proxy_cache_path @PREFIX@/cache levels=1:2 keys_zone=pages:10m max_size=200m inactive=10m;
    {extra_http}
    include @PREFIX@/compliance-http.conf;
    upstream app {{ server {upstream.removeprefix("http://")}; keepalive 16; }}
    server {{
        listen 127.0.0.1:@PORT@;
        location / {{
            proxy_pass http://app;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header X-Forwarded-For $remote_addr;
            proxy_cache pages;
            proxy_cache_valid 200 404 10m;
            include @PREFIX@/compliance-location.conf;
            add_header X-Cache $upstream_cache_status always;
        }}
    }}"""
    main = f"load_module {GEOIP2_MODULE};\n{'user root;' if os.geteuid() == 0 else ''}"
    with nginx_serving(prefix, server, main=main) as url:
        yield url


@contextlib.contextmanager
def varnish(tmp: Path, vcl_include: str, upstream: str) -> Iterator[str]:
    """Varnish in front of `upstream`, with the generated VCL included; yields Varnish's base URL.

    Responses carry `X-Cache: HIT` or `MISS`.
    """
    require()
    work = tmp / "varnish"
    work.mkdir(parents=True, exist_ok=True)
    (work / "compliance.vcl").write_text(vcl_include)
    host, app_port = upstream.removeprefix("http://").rsplit(":", 1)
    vcl = work / "main.vcl"
    vcl.write_text(
        f"""vcl 4.1;
backend app {{ .host = "{host}"; .port = "{app_port}"; }}
include "{work}/compliance.vcl";
sub vcl_deliver {{
    if (obj.hits > 0) {{ set resp.http.X-Cache = "HIT"; }} else {{ set resp.http.X-Cache = "MISS"; }}
}}
"""
    )
    port = free_port()
    log = work / "varnishd.log"
    output = log.open("wb")
    process = subprocess.Popen(
        [
            VARNISHD,
            "-F",
            "-n",
            str(work / "n"),
            "-a",
            f"127.0.0.1:{port}",
            "-f",
            str(vcl),
            "-s",
            "malloc,64m",
            "-T",
            "none",
            "-j",
            "none",
            "-p",
            "default_ttl=600",
        ],
        stdout=output,
        stderr=subprocess.STDOUT,
    )
    try:
        _wait_for_port(port, process, log)
        yield f"http://127.0.0.1:{port}"
    finally:
        _stop(process)
        output.close()
