"""The README's placement table shows what the middleware really does."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from compliance import ComplianceMiddleware
from tests.conftest import ROOT, chunked_app, http_scope, rule_file, run_asgi
from tests.server import SERVERS
from tests.test_frameworks import FRAMEWORKS

README = (ROOT / "README.md").read_text(encoding="utf-8")
SECTION = README[README.index("## Placements") : README.index("## Rules")]
PAGE = re.search(r"```html\n(<html>.*?)\n```", SECTION, re.S).group(1).encode()  # type: ignore[union-attr]
ROWS = re.findall(r"^\| `(\w[^`]*|\{[^`]*\})` \| `([^`]*)`", SECTION, re.M)
NOTICES = """\
notices:
  warning:
    title: Test warning
    text: {en: "Take care."}
"""


def test_the_table_has_a_row_for_each_html_placement() -> None:
    kinds = {re.sub(r"[{}:].*", "", p.strip("{")) for p, _ in ROWS}
    assert kinds >= {"body-start", "body-end", "marker", "before", "after", "prepend", "append"}


@pytest.mark.parametrize(("placement", "shown"), [row for row in ROWS if not row[0].startswith("{json")])
def test_each_html_placement_puts_the_notice_where_the_readme_says(tmp_path: Path, placement: str, shown: str) -> None:
    rules = rule_file(
        tmp_path, f"rules:\n  - {{id: r, notice: warning, jurisdictions: [RU], placement: {placement}}}\n", NOTICES
    )
    body = run_asgi(ComplianceMiddleware(chunked_app([PAGE]), rules=rules), http_scope("/")).body.decode()
    notice = re.search(r"<aside .*?</aside>", body).group(0)  # type: ignore[union-attr]
    assert shown.replace("...", "").replace("[N]", notice) in body


def _wraps() -> dict[str, str]:
    section = README[README.index("The one line for each framework") :]
    block = section[section.index("```python") : section.index("```\n", 10)]
    lines = block.splitlines()[1:]
    return {lines[i][2:].split(",")[0].strip().lower(): lines[i + 1] for i in range(0, len(lines), 2)}


def test_the_readme_shows_the_one_line_each_tested_framework_example_uses() -> None:
    wraps = _wraps()
    assert sorted(wraps) == sorted(FRAMEWORKS)
    for name, line in wraps.items():
        source = (ROOT / "examples" / "frameworks" / f"{name}_app.py").read_text(encoding="utf-8")
        [used] = [
            re.sub(r"^[\w.]+ = ", "", code.split("  #")[0].strip().rstrip(","))
            for code in source.splitlines()
            if "ComplianceMiddleware" in code and "rules=" in code and "`" not in code
        ]
        assert used.replace('rules=RULES, trusted_proxies=["127.0.0.1"]', 'rules="rules/"') in line, name


def test_the_readme_names_the_servers_the_suite_runs() -> None:
    for server in SERVERS:
        assert f"**{server}**" in README
