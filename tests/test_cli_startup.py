"""`compliance --help` and `--version` answer at once: a pre-commit hook may call them on every commit.

They load none of the commands and none of the libraries the commands and the
middleware use; `compliance COMMAND --help` still shows all of that command's options.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from compliance import __version__

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
