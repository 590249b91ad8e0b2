"""`compliance --help` and `--version` answer at once: a pre-commit hook may call them on every commit.

They load none of the commands and none of the libraries the commands and the
middleware use; `compliance COMMAND --help` still shows all of that command's options.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from compliance import __version__

ROOT = Path(__file__).resolve().parent.parent

# Run as `python -m compliance ARGS`, then list the modules that were loaded.
RUN = """\
import json, runpy, sys
try:
    runpy.run_module("compliance", run_name="__main__", alter_sys=True)
except SystemExit:
    pass
sys.stderr.write(json.dumps(sorted(sys.modules)))
"""
HEAVY = ("httpx", "yaml", "geoip2", "maxminddb", "starlette", "pycountry", "iptocc", "compliance.middleware")


def run(*args: str) -> tuple[str, list[str]]:
    result = subprocess.run([sys.executable, "-c", RUN, *args], capture_output=True, text=True, timeout=60)
    return result.stdout, json.loads(result.stderr)


@pytest.mark.parametrize("option", ["--version", "--help"])
def test_version_and_help_load_no_library_of_the_commands(option: str) -> None:
    _, modules = run(option)
    loaded = [m for m in modules if m in HEAVY or m.startswith(tuple(f"{h}." for h in HEAVY))]
    assert loaded == []
    assert [m for m in modules if m.startswith("compliance.cli.")] == []


def test_version() -> None:
    assert run("--version")[0] == f"compliance {__version__}\n"


def test_help_lists_every_command() -> None:
    out = run("--help")[0]
    for command in ("validate", "explain", "test", "report"):
        assert f"\n    {command} " in out


@pytest.mark.parametrize(
    ("command", "option"),
    [("validate", "--strict"), ("explain", "--accept-language"), ("test", "--secret"), ("report", "--output")],
)
def test_a_commands_help_shows_its_options(command: str, option: str) -> None:
    out = run(command, "--help")[0]
    assert out.startswith(f"usage: compliance {command} ")
    assert option in out


# A worker's start: the middleware's import, the start of the wrapped app, the rules loaded and the
# first covered requests, one with a CDN region header.
WORKER = """\
import asyncio, json, sys
from compliance import ComplianceMiddleware
from examples.news_site import app as site
app = ComplianceMiddleware(site, rules="rules", reload_interval=None, metrics=False,
                           cdn_proxies=["127.0.0.1"], country_header="CF-IPCountry", region_header="CF-Region-Code")
sent = []
async def send(message):
    sent.append(message)
async def receive():
    return {"type": "http.request", "body": b"", "more_body": False}
for country, region in ((b"RU", b"MOW"), (b"DE", b"")):
    headers = [(b"host", b"localhost"), (b"cf-ipcountry", country), (b"cf-region-code", region)]
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
             "path": "/news/press-freedom-report", "raw_path": b"/news/press-freedom-report", "query_string": b"",
             "root_path": "", "headers": headers, "client": ("127.0.0.1", 5000), "server": ("127.0.0.1", 80)}
    asyncio.run(app(scope, receive, send))
body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
sys.stderr.write(json.dumps([b"undesirable" in body.lower(), sorted(sys.modules)]))
"""


def test_a_worker_serving_local_rules_loads_neither_httpx_nor_pycountry() -> None:
    # httpx is for rule bundles fetched over HTTP and pycountry's objects for the wording of rule
    # mistakes; together their imports cost a worker's start about 75 ms.
    result = subprocess.run(
        [sys.executable, "-c", WORKER], capture_output=True, text=True, timeout=60, cwd=ROOT, check=False
    )
    noticed, modules = json.loads(result.stderr.splitlines()[-1])
    assert noticed, "the first covered request got its notice"
    assert [m for m in modules if m.split(".")[0] in ("httpx", "pycountry")] == []
