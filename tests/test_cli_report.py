"""`compliance report`: a self-contained HTML page (or Markdown) for the legal team."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from html.parser import HTMLParser
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def compliance(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "compliance", *args], cwd=cwd, capture_output=True, text=True, timeout=120,
        env={**os.environ},
    )  # fmt: skip


class _Fetches(HTMLParser):
    """Every attribute value that would make a browser fetch something on its own."""

    def __init__(self) -> None:
        super().__init__()
        self.fetches: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if value and (name == "src" or (tag == "link" and name == "href") or (name == "href" and tag == "use")):
                self.fetches.append(f"{tag} {name}={value}")


def test_the_example_report_is_written_to_the_current_folder(tmp_path: Path) -> None:
    result = compliance("report", "--rules", str(ROOT / "rules"), cwd=tmp_path)
    assert result.stdout == "Wrote compliance-report.html: 1 notice, 1 rule.\n"
    assert result.returncode == 0
    page = (tmp_path / "compliance-report.html").read_text(encoding="utf-8")
    # Each language as the reader sees it: the middleware's own markup.
    assert '<aside class="legal-notice" data-legal-notice="undesirable-organization" lang="en"' in page
    assert '<aside class="legal-notice" data-legal-notice="undesirable-organization" lang="ru"' in page
    assert "нежелательной организацией" in page
    # Legal basis, owner, review date.
    assert "Russian Federal Law No. 129-FZ of 23 May 2015 (&quot;on undesirable organizations&quot;)" in page
    assert "legal@northwind.example" in page
    assert "2027-06-30" in page
    # The matrix: groups expanded to their members, with the paths.
    assert "<strong>RU</strong> Russian Federation" in page
    assert "<strong>UA-43</strong> Avtonomna Respublika Krym, Ukraine" in page
    assert "via @occupied-ukraine, @russian-law-reach" in page
    assert "on /**; except /static/**, /healthz, /api/**; from 2024-08-20" in page
    # The map: Russia coloured, Ukraine hatched (only some of its subdivisions).
    assert re.search(r'<use href="#world" style="--c-ru:var\(--shown\);--c-ua:url\(#partly\)"/>', page)
    assert page.count('<g id="world"') == 1


def test_the_report_is_self_contained(tmp_path: Path) -> None:
    compliance("report", "--rules", str(ROOT / "rules"), "-o", "out.html", cwd=tmp_path)
    page = (tmp_path / "out.html").read_text(encoding="utf-8")
    parser = _Fetches()
    parser.feed(page)
    assert parser.fetches == ["use href=#world"]
    assert "<script" not in page
    assert "@import" not in page and "url(http" not in page
    assert "default-src 'none'" in page


def test_every_text_from_the_rules_is_escaped(tmp_path: Path) -> None:
    (tmp_path / "rules.yaml").write_text(
        textwrap.dedent(
            """\
            notices:
              evil:
                title: "<script>alert(1)</script> title"
                legal_basis: "<img src=x onerror=alert(2)>"
                owner: "<b>owner</b>"
                text: {en: "<script>alert(3)</script> text"}
            rules:
              - {id: evil-rule, notice: evil, jurisdictions: [FR], paths: ["/<i>/**"]}
            """
        ),
        encoding="utf-8",
    )
    result = compliance("report", "--rules", "rules.yaml", "-o", "-", cwd=tmp_path)
    assert result.returncode == 0
    page = result.stdout
    assert "<script" not in page
    assert "<img" not in page and "<b>owner" not in page and "<i>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt; title" in page
    assert "&lt;img src=x onerror=alert(2)&gt;" in page


def test_markdown_for_a_pull_request(tmp_path: Path) -> None:
    result = compliance("report", "--rules", str(ROOT / "rules"), "--format", "markdown", "-o", "-", cwd=tmp_path)
    assert result.returncode == 0
    lines = result.stdout.splitlines()
    assert lines[0] == "# Legal notices by jurisdiction"
    assert "| Jurisdiction | Undesirable-organization warning (Russia) |" in lines
    assert (
        "| **UA-43** Avtonomna Respublika Krym, Ukraine (via @occupied-ukraine, @russian-law-reach) | on `/**`; except "
        "`/static/**`, `/healthz`, `/api/**`; from 2024-08-20 (rule `ru-undesirable-organization`) |"
    ) in lines
    assert "> Российские власти объявили Northwind News «нежелательной организацией»." in lines
    assert "> What this means for you (https://northwind.example/help/undesirable)" in lines


def test_rules_that_do_not_load_write_no_report_and_exit_2(tmp_path: Path) -> None:
    (tmp_path / "rules.yaml").write_text("rules: [{id: x, notice: missing, jurisdictions: [RU]}]\n", encoding="utf-8")
    result = compliance("report", "--rules", "rules.yaml", cwd=tmp_path)
    assert result.returncode == 2
    assert not (tmp_path / "compliance-report.html").exists()
    assert result.stderr.splitlines()[-1] == (
        "The rules in rules.yaml cannot be loaded (1 error); run `compliance validate rules.yaml` for every problem."
    )


def test_without_the_report_extra_the_page_has_no_map_and_says_what_to_install(tmp_path: Path) -> None:
    # `pygal_maps_world` set to None in sys.modules is a package that is not installed.
    code = "import sys; sys.modules['pygal_maps_world'] = None; from compliance.cli import main; sys.exit(main())"
    result = subprocess.run(
        [sys.executable, "-c", code, "report", "--rules", str(ROOT / "rules")],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    page = (tmp_path / "compliance-report.html").read_text(encoding="utf-8")
    assert '<svg class="map"' not in page
    assert "No map" in page
    assert 'pip install "compliance-notices[report]"' in page


def test_the_report_lists_the_jurisdiction_classes_and_the_copies_a_cache_keeps(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        textwrap.dedent(
            """\
            notices:
              warning: {title: Russia warning, text: {en: Careful.}}
              gdpr: {title: GDPR block, text: {en: Not here.}}
            rules:
              - {id: ru-warning, notice: warning, jurisdictions: [RU, UA-43]}
              - {id: eu-block, notice: gdpr, jurisdictions: [DE], action: block, paths: ["/eu-only/**"]}
            """
        )
    )
    result = compliance("report", "--rules", str(rules), "--format", "markdown", "-o", "-", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    section = result.stdout.split("## Jurisdiction classes", 1)[1].split("## Notices", 1)[0]
    assert "keeps at most 3 copies of each page" in section
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    assert len(rows) == 3
    russia = next(r for r in rows if "RU (Russian Federation)" in r)
    assert "UA-43 (" in russia and "Russia warning" in russia
    germany = next(r for r in rows if "DE (Germany)" in r)
    assert "blocked (451) by GDPR block" in germany
    everyone_else = next(r for r in rows if r.startswith("| `none`"))
    assert "unknown" in everyone_else and "every reader the edge cannot place" in everyone_else
    page = compliance("report", "--rules", str(rules), "-o", "-", cwd=tmp_path).stdout
    assert "<h2>Jurisdiction classes</h2>" in page and "keeps at most 3 copies of each page" in page
