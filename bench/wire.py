"""Over the wire: uvicorn on loopback, bare and wrapped, under a load tool.

One server process (`bench.serve`) serves the bare app under `/bare/...` and
the wrapped one elsewhere, so that both share the same process, core and
scheduling. `wrk` (16 connections, one thread)
where it is installed; else an async httpx client with 16 connections, which is
slower than the server, so its ratios say less (the table says which ran).
Each scenario runs bare and wrapped back to back in each round (the order
alternating), and the ratio is the median over the rounds of wrapped / bare
requests a second: the machine is shared, so pairs measured seconds apart
are compared, never figures from different minutes.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from .inprocess import Checks
from .model import Row, Section, Target, fmt
from .page import COUNTRY_IPS
from .serve import BARE_PREFIX

__all__ = ["CONNECTIONS", "Load", "load", "run_wire", "server"]

CONNECTIONS = 16


@dataclass(frozen=True)
class Scenario:
    name: str
    path: str
    reader: str
    notice: bool
    target: float | None
    control: bool = False


CONTROL = "control: bare against bare (the noise of this measurement)"
SCENARIOS = (
    Scenario(CONTROL, "/news/estuary-ferry", COUNTRY_IPS["RU"], False, None, control=True),
    Scenario("pass-through (path no rule covers)", "/about", COUNTRY_IPS["RU"], False, 0.98),
    Scenario("covered path, reader elsewhere (no notice)", "/news/estuary-ferry", COUNTRY_IPS["DE"], False, 0.95),
    Scenario("body-end notice", "/news/estuary-ferry", COUNTRY_IPS["RU"], True, 0.80),
    Scenario('{after: "article h1"} notice', "/world/estuary-ferry", COUNTRY_IPS["RU"], True, 0.50),
)


@dataclass
class Load:
    rps: float
    p99_ms: float


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextmanager
def server(rules: Path, *, workers: int = 1, deployed: str = "") -> Iterator[str]:
    """`bench.serve` on a free port, `workers` worker processes; yields its base URL."""
    port = _free_port()
    cmd = [sys.executable, "-m", "bench.serve", str(port), os.fspath(rules), f"--workers={workers}"]
    if deployed:
        cmd.append(f"--deployed={deployed}")
    root = Path(__file__).resolve().parent.parent
    proc = subprocess.Popen(cmd, cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    err = proc.stderr.read().decode() if proc.stderr else ""
                    raise RuntimeError(f"the benchmark server did not start: {err}") from None
                time.sleep(0.05)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0}


_NEW_PATHS = """
local n = 0
request = function()
  n = n + 1
  return wrk.format(nil, "%s" .. n)
end
"""


def _wrk(url: str, reader: str, seconds: float, connections: int, new_paths: bool) -> Load:
    """`wrk` on `url`; with `new_paths`, every request asks for a path never asked before (`url` + a count)."""
    cmd = ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--latency"]
    script = None
    if new_paths:
        base, path = url.split("/", 3)[2], "/" + url.split("/", 3)[3]
        with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
            f.write(_NEW_PATHS % path.replace("\\", "\\\\").replace('"', '\\"'))
        script = f.name
        cmd += ["-s", script]
        url = f"http://{base}/"
    cmd += ["-H", f"X-Forwarded-For: {reader}", url]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 30, check=True).stdout
    finally:
        if script is not None:
            os.unlink(script)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    p99 = re.search(r"^\s*99%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)|Socket errors: (.*)", out)
    if rps is None or p99 is None:
        raise RuntimeError(f"cannot read wrk's output:\n{out}")
    if errors:
        raise RuntimeError(f"wrk saw errors: {errors.group(0)}")
    return Load(float(rps.group(1)), float(p99.group(1)) * _UNITS[p99.group(2)])


async def _httpx_load(url: str, reader: str, seconds: float, connections: int, new_paths: bool) -> Load:
    latencies: list[float] = []
    count = itertools.count(1)
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    async with httpx.AsyncClient(limits=limits, headers={"X-Forwarded-For": reader}) as client:
        stop = time.perf_counter() + seconds

        async def worker() -> None:
            while True:
                began = time.perf_counter()
                if began >= stop:
                    return
                response = await client.get(f"{url}{next(count)}" if new_paths else url)
                response.raise_for_status()
                latencies.append(time.perf_counter() - began)

        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(connections)))
        spent = time.perf_counter() - began
    latencies.sort()
    return Load(len(latencies) / spent, latencies[int(len(latencies) * 0.99)] * 1000)


def load(
    tool: str, url: str, reader: str, seconds: float, *, connections: int = CONNECTIONS, new_paths: bool = False
) -> Load:
    """Requests a second and p99 of `tool` ("wrk" or "httpx") loading `url` for `seconds`."""
    if tool == "wrk":
        return _wrk(url, reader, seconds, connections, new_paths)
    return asyncio.run(_httpx_load(url, reader, seconds, connections, new_paths))


def _check(base: str, scenario: Scenario, checks: Checks, kind: str) -> None:
    response = httpx.get(base + scenario.path, headers={"X-Forwarded-For": scenario.reader}, timeout=10)
    body = response.content
    length = response.headers.get("content-length")
    has = b'class="legal-notice"' in body
    ok = response.status_code == 200 and (length is None or int(length) == len(body))
    ok = ok and has == (scenario.notice and kind == "wrapped")
    checks.expect(
        ok,
        f"over uvicorn, {kind}, {scenario.name}: status {response.status_code}, notice {has}, "
        f"Content-Length {length} for {len(body)} bytes",
    )


def run_wire(rules: Path, checks: Checks, *, rounds: int, seconds: float) -> Section:
    tool = "wrk" if shutil.which("wrk") else "httpx"
    what = (
        f"wrk, 1 thread, {CONNECTIONS} connections, {seconds:g} s a run"
        if tool == "wrk"
        else f"an async httpx client ({CONNECTIONS} connections, {seconds:g} s a run; wrk is not installed, "
        "and this client is slower than the server, so the ratios understate the cost)"
    )
    section = Section(
        "wire",
        "Over the wire: uvicorn (httptools, 1 worker) on loopback, 100 KB page as Starlette HTMLResponse",
        ["bare req/s", "wrapped req/s", "ratio", "ratio IQR", "bare p99 ms", "wrapped p99 ms"],
    )
    section.notes.append(
        f"Load: {what}; {rounds} interleaved rounds; medians. ratio: the median of the per-round "
        "wrapped / bare ratios; ratio IQR: their interquartile range. The control row times the bare app "
        "against itself: its spread is what noise alone does to a ratio on this machine at this time."
    )
    with server(rules) as base:
        urls = {"bare": base + BARE_PREFIX, "wrapped": base}
        for scenario in SCENARIOS:
            for kind, url in urls.items():
                if not scenario.control:
                    _check(url, scenario, checks, kind)
        for url in urls.values():  # warm up
            load(tool, url + SCENARIOS[3].path, SCENARIOS[3].reader, 1)
        results: dict[str, dict[str, list[Load]]] = {s.name: {"bare": [], "wrapped": []} for s in SCENARIOS}
        for r in range(rounds):
            for scenario in SCENARIOS:
                order = ("bare", "wrapped") if r % 2 == 0 else ("wrapped", "bare")
                for kind in order:
                    url = urls["bare" if scenario.control else kind]
                    measured = load(tool, url + scenario.path, scenario.reader, seconds)
                    results[scenario.name][kind].append(measured)
    for scenario in SCENARIOS:
        got = results[scenario.name]
        ratios = sorted(w.rps / b.rps for w, b in zip(got["wrapped"], got["bare"], strict=True))
        ratio = statistics.median(ratios)
        q1, _, q3 = statistics.quantiles(ratios, n=4) if len(ratios) >= 2 else (ratio, ratio, ratio)
        bare_rps = statistics.median(x.rps for x in got["bare"])
        wrapped_rps = statistics.median(x.rps for x in got["wrapped"])
        bare_p99 = statistics.median(x.p99_ms for x in got["bare"])
        wrapped_p99 = statistics.median(x.p99_ms for x in got["wrapped"])
        section.add(
            Row(
                scenario.name,
                {
                    "bare req/s": fmt(bare_rps),
                    "wrapped req/s": fmt(wrapped_rps),
                    "ratio": fmt(ratio),
                    "ratio IQR": f"{fmt(q1)}–{fmt(q3)}",
                    "bare p99 ms": fmt(bare_p99),
                    "wrapped p99 ms": fmt(wrapped_p99),
                },
                value=ratio,
                target=None if scenario.target is None else Target(">=", scenario.target),
                data={
                    "tool": tool,
                    "bare_rps": [x.rps for x in got["bare"]],
                    "wrapped_rps": [x.rps for x in got["wrapped"]],
                    "bare_p99_ms": [x.p99_ms for x in got["bare"]],
                    "wrapped_p99_ms": [x.p99_ms for x in got["wrapped"]],
                    "ratio": ratio,
                    "ratio_iqr": [q1, q3],
                },
            )
        )
    return section
