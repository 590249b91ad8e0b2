"""`compliance test --url`: cases run several at once, each printed as soon as it can be, in case order."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.server import serve

RULES = """\
notices:
  warning: {title: Warning, text: {en: Careful.}}
rules:
  - {id: ru-warning, notice: warning, jurisdictions: [RU], paths: ["/never"]}
"""


class GatedSite:
    """Plain pages; `/slow` answers only once `release` is set; counts the requests in flight at once."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.in_flight = 0
        self.most_at_once = 0

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        assert scope["type"] == "http"
        self.in_flight += 1
        self.most_at_once = max(self.most_at_once, self.in_flight)
        try:
            if scope["path"] == "/slow":
                deadline = time.monotonic() + 30
                while not self.release.is_set() and time.monotonic() < deadline:
                    await asyncio.sleep(0.01)
            elif scope["path"] == "/wait":
                await asyncio.sleep(0.3)
        finally:
            self.in_flight -= 1
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/html")]})
        await send({"type": "http.response.body", "body": b"<html><body><p>Story.</p></body></html>"})


@pytest.fixture
def site() -> Iterator[tuple[GatedSite, str]]:
    app = GatedSite()
    with serve(app) as url:
        yield app, url
    app.release.set()


def _cases(tmp_path: Path, paths: list[str]) -> None:
    (tmp_path / "rules.yaml").write_text(RULES, encoding="utf-8")
    body = "".join(
        f"  - name: page {i} {path}\n    request: {{path: {path}, ip: 8.8.8.8}}\n    expect: {{notices: []}}\n"
        for i, path in enumerate(paths)
    )
    (tmp_path / "cases.yaml").write_text("cases:\n" + body, encoding="utf-8")


def _command(url: str, *extra: str) -> list[str]:
    return [sys.executable, "-m", "compliance", "test", "cases.yaml", "--rules", "rules.yaml", "--url", url, *extra]


def test_each_case_is_printed_as_soon_as_it_has_finished(tmp_path: Path, site: tuple[GatedSite, str]) -> None:
    app, url = site
    _cases(tmp_path, ["/fast", "/slow"])
    process = subprocess.Popen(
        _command(url), cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ}
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        assert first == "PASS  page 0 /fast\n"
        assert process.poll() is None  # the slow case is still waiting for its page
        app.release.set()
        rest, _ = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert rest.splitlines()[0] == "PASS  page 1 /slow"
    assert rest.splitlines()[-1] == "2 passed, 0 failed, 0 skipped"
    assert process.returncode == 0


def test_cases_run_several_at_once_and_print_in_the_order_of_the_files(
    tmp_path: Path, site: tuple[GatedSite, str]
) -> None:
    app, url = site
    _cases(tmp_path, ["/wait"] * 6)
    result = subprocess.run(_command(url, "--jobs", "3"), cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert [line for line in result.stdout.splitlines() if line.startswith("PASS")] == [
        f"PASS  page {i} /wait" for i in range(6)
    ]
    assert app.most_at_once >= 2
    app.most_at_once = 0
    result = subprocess.run(_command(url, "--jobs", "1"), cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0
    assert app.most_at_once == 1


def test_jobs_must_be_one_or_more(tmp_path: Path) -> None:
    _cases(tmp_path, ["/"])
    result = subprocess.run(
        _command("http://127.0.0.1:9", "--jobs", "0"), cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 2
    assert "argument --jobs: '0' is not a number of cases to run at once; give 1 or more" in result.stderr
