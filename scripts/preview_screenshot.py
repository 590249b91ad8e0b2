"""Regenerate docs/preview-ru.png: the example article through a preview link for Russia, in headless Chromium."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from compliance import ComplianceMiddleware  # noqa: E402
from compliance.cli.preview import preview_link  # noqa: E402
from examples.news_site import app as site  # noqa: E402
from tests.server import serve  # noqa: E402

SECRET = "a-staging-secret-that-is-long-enough"


def main() -> int:
    app = ComplianceMiddleware(site, rules=ROOT / "rules", reload_interval=None, test_secret=SECRET, metrics=False)
    with serve(app) as url, tempfile.TemporaryDirectory() as profile:
        link = preview_link(url + "/news/press-freedom-report", SECRET, "RU")
        command = [
            "/usr/bin/chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            f"--user-data-dir={profile}", "--hide-scrollbars", "--window-size=1000,620",
            f"--screenshot={ROOT / 'docs' / 'preview-ru.png'}", link,
        ]  # fmt: skip
        return subprocess.run(command, capture_output=True, timeout=120, check=False).returncode


if __name__ == "__main__":
    sys.exit(main())
