"""Preview links: a page as a reader in a jurisdiction gets it, in an ordinary browser (real headless Chromium)."""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from compliance import ComplianceMiddleware
from compliance.cli import main
from compliance.cli.preview import preview_link
from examples.news_site import app as site
from tests.server import serve

ROOT = Path(__file__).resolve().parent.parent
SECRET = "a-staging-secret-that-is-long-enough"
ARTICLE = "/news/press-freedom-report"
NOTICE = 'data-legal-notice="undesirable-organization"'
CHROMIUM = "/usr/bin/chromium"


@pytest.fixture(scope="module")
def staging() -> Iterator[str]:
    """The example site behind the middleware with a test secret, on loopback; the reader's own address is unknown."""
    app = ComplianceMiddleware(site, rules=ROOT / "rules", reload_interval=None, test_secret=SECRET, metrics=False)
    with serve(app) as url:
        yield url


def test_a_preview_link_shows_the_page_as_a_reader_there_gets_it(
    staging: str, caplog: pytest.LogCaptureFixture
) -> None:
    link = preview_link(staging + ARTICLE, SECRET, "RU")
    assert NOTICE not in httpx.get(staging + ARTICLE).text
    with caplog.at_level(logging.INFO, "compliance.audit"):
        response = httpx.get(link)
        deadline = time.monotonic() + 5  # the event is written once the response has gone out
        while not any(r.name == "compliance.audit" for r in caplog.records) and time.monotonic() < deadline:
            time.sleep(0.01)
    assert NOTICE in response.text
    assert response.headers["cache-control"].startswith("private") and "no-store" in response.headers["cache-control"]
    assert response.headers["compliance-test"] == "honoured"
    events = [json.loads(r.getMessage()) for r in caplog.records if r.name == "compliance.audit"]
    assert events[-1]["event"] == "preview" and events[-1]["jurisdiction"]["source"] == "preview"
    assert "compliance-preview" not in json.dumps(events[-1])


def test_a_preview_link_works_for_its_page_only_and_not_with_another_secret(staging: str) -> None:
    link = preview_link(staging + ARTICLE, SECRET, "RU")
    token = link.split("compliance-preview=", 1)[1]
    assert NOTICE not in httpx.get(f"{staging}/news/another-story?compliance-preview={token}").text
    forged = preview_link(staging + ARTICLE, "another-secret-that-is-long-enough", "RU")
    assert NOTICE not in httpx.get(forged).text


def test_the_command_prints_the_link(staging: str, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["preview", "--as", "RU", "--subdivision", "UA-43", "--url", staging + ARTICLE, "--ttl", "30m",
                 "--secret", SECRET])  # fmt: skip
    link = capsys.readouterr().out.strip()
    assert code == 0 and link.startswith(staging + ARTICLE + "?compliance-preview=")
    assert NOTICE in httpx.get(link).text
    assert main(["preview", "--as", "RU", "--url", staging + ARTICLE, "--ttl", "2d", "--secret", SECRET]) == 2
    assert main(["preview", "--as", "RU", "--url", staging + ARTICLE, "--secret", "short"]) == 2


def _chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [
        CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        f"--user-data-dir={tmp_path / 'profile'}", *args,
    ]  # fmt: skip
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.real
def test_chromium_shows_the_notice_with_the_link_and_not_without(staging: str, tmp_path: Path) -> None:
    assert shutil.which(CHROMIUM) or Path(CHROMIUM).exists(), "make test installs chromium (apt-get install chromium)"
    link = preview_link(staging + ARTICLE, SECRET, "RU")
    without = _chromium(tmp_path, "--dump-dom", staging + ARTICLE)
    with_link = _chromium(tmp_path, "--dump-dom", link)
    assert "<body" in without.stdout and NOTICE not in without.stdout
    assert NOTICE in with_link.stdout
    assert "undesirable organization" in with_link.stdout
