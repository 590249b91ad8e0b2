"""One notice, an HTML rule and a JSON rule: the placement that applies follows the response's type,
in the middleware, in `compliance explain` and in `compliance test` alike."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

from compliance import ComplianceMiddleware
from tests.conftest import RU_IP, fetch

RULES = """\
notices:
  warning:
    title: Warning
    text: {en: "Readers here: take care."}
rules:
  - {id: warning-on-pages, notice: warning, jurisdictions: [RU], placement: body-end, priority: 1}
  - {id: warning-in-the-api, notice: warning, jurisdictions: [RU], paths: ["/api/**"], placement: {json: notices}}
"""

CASES = """\
cases:
  - name: The page carries the warning
    request: {path: /news/story, country: RU}
    expect: {notices: [warning]}
  - name: The API answer carries the warning too
    request: {path: /api/story, country: RU, content_type: application/json}
    expect: {notices: [warning]}
"""


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["path"] == "/api/story":
        body, kind = b'{"title": "Story"}', b"application/json"
    else:
        body, kind = b"<html><body><p>Story</p></body></html>", b"text/html; charset=utf-8"
    headers = [(b"content-type", kind), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def test_an_html_rule_and_a_json_rule_for_one_notice_each_serve_their_responses(tmp_path: Path) -> None:
    (tmp_path / "rules.yaml").write_text(RULES)
    mw = ComplianceMiddleware(app, rules=tmp_path / "rules.yaml", reload_interval=None, metrics=False)
    for path in ("/news/story", "/api/help"):  # HTML pages, one of them where the JSON rule applies too
        page = fetch(mw, path, client=(RU_IP, 1))
        assert 'data-legal-notice="warning"' in page.text
    api = fetch(mw, "/api/story", client=(RU_IP, 1))
    assert [item["id"] for item in api.json()["notices"]] == ["warning"]


def compliance(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "compliance", *args], capture_output=True, text=True, cwd=cwd)


def test_explain_says_which_rule_serves_which_type_of_response(tmp_path: Path) -> None:
    (tmp_path / "rules.yaml").write_text(RULES)
    as_json = compliance(
        "explain", "--rules", "rules.yaml", "--country", "RU", "--path", "/api/story",
        "--content-type", "application/json", "--format", "json", cwd=tmp_path,
    )  # fmt: skip
    assert as_json.returncode == 0, as_json.stderr
    fired = {f["rule"]: f for f in json.loads(as_json.stdout)["fires"]}
    assert set(fired) == {"warning-on-pages", "warning-in-the-api"}
    text = compliance(
        "explain", "--rules", "rules.yaml", "--country", "RU", "--path", "/api/story",
        "--content-type", "application/json", cwd=tmp_path,
    ).stdout  # fmt: skip
    assert "application/json" in text and "which takes no HTML notice" in text


def test_rules_only_and_the_app_agree_on_a_json_response(tmp_path: Path) -> None:
    (tmp_path / "rules.yaml").write_text(RULES)
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "cases.yaml").write_text(textwrap.dedent(CASES))
    (tmp_path / "typed_app.py").write_text(
        "from tests.test_response_types import app\n"
        "from compliance import ComplianceMiddleware\n"
        "app = ComplianceMiddleware(app, rules='rules.yaml', reload_interval=None, metrics=False)\n"
    )
    rules_only = compliance("test", "tests/cases.yaml", "--rules", "rules.yaml", cwd=tmp_path)
    assert rules_only.stdout.splitlines()[-1].startswith("2 passed, 0 failed"), rules_only.stdout
    root = str(Path(__file__).resolve().parent.parent)
    in_process = subprocess.run(
        [sys.executable, "-m", "compliance", "test", "tests/cases.yaml", "--rules", "rules.yaml",
         "--app", "typed_app:app"],
        capture_output=True, text=True, cwd=tmp_path, env={"PYTHONPATH": f"{tmp_path}:{root}", "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert in_process.stdout.splitlines()[-1].startswith("2 passed, 0 failed"), in_process.stdout + in_process.stderr
