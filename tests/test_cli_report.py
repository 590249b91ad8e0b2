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
    assert "<th>RU (Russian Federation); UA-09 (Luhanska oblast, Ukraine);" in page
    assert "UA-43 (Avtonomna Respublika Krym, Ukraine)" in page
    assert "(via @occupied-ukraine, @russian-law-reach)</th>" in page
    assert (
        "goes in place of the comment &lt;!-- legal-notice --&gt; in the page, else at the end of the page, right "
        "before &lt;/body&gt;; on /**; except /static/**, /healthz, /api/**; from 2024-08-20"
    ) in page
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
    assert "| Readers | Undesirable-organization warning (Russia) |" in lines
    row = next(line for line in lines if line.startswith("| RU (Russian Federation)"))
    assert "UA-43 (Avtonomna Respublika Krym, Ukraine)" in row
    assert row.endswith(
        "(via @occupied-ukraine, @russian-law-reach) | goes in place of the comment &lt;!-- legal-notice --&gt; in "
        "the page, else at the end of the page, right before &lt;/body&gt;; on `/**`; except `/static/**`, "
        "`/healthz`, `/api/**`; from 2024-08-20 (rule `ru-undesirable-organization`) |"
    )
    assert "| Every other reader (251 kinds) | no notice |" in lines
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


# -- what readers get, by class of readers ------------------------------------------------------

WHAT_READERS_GET = """\
notices:
  imprint: {title: Imprint, text: {en: Published by Northwind News.}}
  warning:
    title: Russia warning
    text: {en: Careful.}
    css: ".legal-notice { border: 3px solid red }"
  gdpr: {title: GDPR block, text: {en: Not here.}}
  mirror: {title: Mirror notice, text: {en: You are on the mirror.}}
  old: {title: Old warning, text: {en: Old.}}
  soon: {title: Coming notice, text: {en: Soon.}}
rules:
  - {id: imprint, notice: imprint, jurisdictions: ["*"], placement: body-start}
  - {id: ru-warning, notice: warning, jurisdictions: [RU, UA-43], placement: [{marker: legal}, {after: "article h1"}]}
  - {id: de-block, notice: gdpr, jurisdictions: [DE], action: block, paths: ["/eu-only/**"]}
  - {id: mirror, notice: mirror, jurisdictions: ["*"], hosts: [mirror.example.org]}
  - {id: old, notice: old, jurisdictions: [FR], until: 2020-01-01}
  - {id: soon, notice: soon, jurisdictions: [FR], from: 2999-01-01}
"""


def _report(tmp_path: Path, *extra: str) -> str:
    (tmp_path / "rules.yaml").write_text(WHAT_READERS_GET, encoding="utf-8")
    result = compliance("report", "--rules", "rules.yaml", "-o", "-", *extra, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_what_every_reader_gets_is_listed_once_and_rows_are_classes_of_readers(tmp_path: Path) -> None:
    page = _report(tmp_path)
    matrix = page.split("<h2>Who sees what, where</h2>", 1)[1].split("<h2>Jurisdiction classes</h2>", 1)[0]
    everyone = matrix.split("<h3>Every reader</h3>", 1)[1].split("<h3>By readers</h3>", 1)[0]
    assert "Imprint" in everyone and "goes at the top of the page, right after &lt;body&gt;" in everyone
    by_readers = matrix.split("<h3>By readers</h3>", 1)[1]
    assert "Imprint" not in by_readers
    assert by_readers.count("<tr><th>") == 1 + 4  # the head; RU with UA-43, DE, FR, every other reader
    assert "<tr><th>RU (Russian Federation); UA-43 (Avtonomna Respublika Krym, Ukraine)</th>" in by_readers


def test_a_block_shows_as_a_block_in_the_matrix_the_map_and_the_card(tmp_path: Path) -> None:
    page = _report(tmp_path)
    germany = page.split("<tr><th>DE (Germany)</th>", 1)[1].split("</tr>", 1)[0]
    assert "BLOCKED: the page is answered with 451 Unavailable For Legal Reasons" in germany
    assert "end of the page" not in germany
    card = page.split('id="notice-gdpr"', 1)[1].split("</section>", 1)[0]
    assert "readers the rule <code>de-block</code> reach get 451 Unavailable For Legal Reasons" in card
    assert "On the 451 page a blocked reader gets in en" in card
    assert "--c-de:var(--blocked)" in card


def test_every_placement_in_order_of_preference(tmp_path: Path) -> None:
    page = _report(tmp_path)
    assert (
        "goes in place of the comment &lt;!-- legal --&gt; in the page, else right after the first element matching "
        "article h1, else at the end of the page, right before &lt;/body&gt; (always the last resort)"
    ) in page


def test_ended_and_not_yet_started_rules_are_marked_and_not_on_the_map(tmp_path: Path) -> None:
    page = _report(tmp_path)
    france = page.split("<tr><th>FR (France)</th>", 1)[1].split("</tr>", 1)[0]
    assert "ended 2020-01-01" in france
    assert "not yet in force: starts 2999-01-01" in france
    for notice in ("old", "soon"):
        card = page.split(f'id="notice-{notice}"', 1)[1].split("</section>", 1)[0]
        assert "--c-fr:" not in card


def test_a_notice_on_some_hosts_only_is_not_painted_on_the_whole_world(tmp_path: Path) -> None:
    page = _report(tmp_path)
    mirror = page.split('id="notice-mirror"', 1)[1].split("</section>", 1)[0]
    assert "--c-fr:var(--hosts)" in mirror and "var(--shown)" not in mirror.split('<svg class="map"', 1)[1]
    imprint = page.split('id="notice-imprint"', 1)[1].split("</section>", 1)[0]
    assert "--c-fr:var(--shown)" in imprint


def test_the_notice_css_styles_its_own_preview_only(tmp_path: Path) -> None:
    page = _report(tmp_path)
    card = page.split('id="notice-warning"', 1)[1].split("</section>", 1)[0]
    assert "<style>#notice-warning .reader { .legal-notice { border: 3px solid red } }</style>" in card
    (tmp_path / "rules.yaml").write_text(
        WHAT_READERS_GET.replace(".legal-notice { border: 3px solid red }", "} body { display: none"),
        encoding="utf-8",
    )
    page = compliance("report", "--rules", "rules.yaml", "-o", "-", cwd=tmp_path).stdout
    assert "display: none }" not in page.replace("<code>", "").split("<style>", 2)[-1].split("</style>")[0]
    assert "not applied below: its braces do not balance" in page


def test_markdown_has_the_same_tables(tmp_path: Path) -> None:
    (tmp_path / "rules.yaml").write_text(WHAT_READERS_GET, encoding="utf-8")
    text = compliance("report", "--rules", "rules.yaml", "--format", "markdown", "-o", "-", cwd=tmp_path).stdout
    lines = text.splitlines()
    assert "### Every reader" in lines and "### By readers" in lines
    germany = next(line for line in lines if line.startswith("| DE (Germany) |"))
    assert "**451** BLOCKED: the page is answered with 451" in germany
    france = next(line for line in lines if line.startswith("| FR (France) |"))
    assert "**ended 2020-01-01**" in france and "**not yet in force: starts 2999-01-01**" in france


# -- what the report is evidence of ------------------------------------------------------------------


def test_the_report_states_the_rule_sets_digest_as_sha256sum_computes_it(tmp_path: Path) -> None:
    import hashlib

    rules = tmp_path / "rules"
    (rules / "tests").mkdir(parents=True)
    (rules / "b.yaml").write_text("rules: [{id: r, notice: n, jurisdictions: [RU]}]\n", encoding="utf-8")
    (rules / "a.yaml").write_text("notices: {n: {title: N, text: {en: Careful.}}}\n", encoding="utf-8")
    listing = "".join(
        f"{hashlib.sha256((rules / name).read_bytes()).hexdigest()}  {name}\n" for name in ("a.yaml", "b.yaml")
    )
    digest = hashlib.sha256(listing.encode()).hexdigest()
    text = compliance("report", "--rules", "rules", "--format", "markdown", "-o", "-", cwd=tmp_path).stdout
    assert f"- Rule set SHA-256: {digest}" in text.splitlines()
    assert "- Git commit: none: the rules folder is not in a git work tree" in text.splitlines()
    assert "- Generated: " in text
    page = compliance("report", "--rules", "rules", "-o", "-", cwd=tmp_path).stdout
    assert f"<dt>Rule set SHA-256</dt><dd>{digest}</dd>" in page


def test_the_report_names_the_git_commit_and_uncommitted_changes(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "r.yaml").write_text(
        "notices: {n: {title: N, text: {en: A.}}}\nrules: [{id: r, notice: n, jurisdictions: [RU]}]\n",
        encoding="utf-8",
    )
    git = ["git", "-c", "user.name=Legal", "-c", "user.email=legal@example.org"]
    subprocess.run([*git, "init", "-q"], cwd=tmp_path, check=True)
    subprocess.run([*git, "add", "."], cwd=tmp_path, check=True)
    subprocess.run([*git, "commit", "-qm", "rules"], cwd=tmp_path, check=True)
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=tmp_path, capture_output=True, text=True).stdout.strip()
    text = compliance("report", "--rules", "rules", "--format", "markdown", "-o", "-", cwd=tmp_path).stdout
    assert f"- Git commit: {head} (the rule files match it)" in text.splitlines()
    (rules / "r.yaml").write_text((rules / "r.yaml").read_text() + "# changed\n", encoding="utf-8")
    text = compliance("report", "--rules", "rules", "--format", "markdown", "-o", "-", cwd=tmp_path).stdout
    assert f"- Git commit: {head} (the rule files have uncommitted changes)" in text.splitlines()


def test_the_report_names_the_geoip_database_type_and_build_date(tmp_path: Path) -> None:
    from tests.mmdb import city_record, write_city_db

    database = write_city_db(tmp_path / "city.mmdb", {"95.173.136.0/24": city_record("RU")})
    import maxminddb

    with maxminddb.open_database(str(database)) as reader:
        built = reader.metadata().build_epoch
    from datetime import UTC, datetime

    when = datetime.fromtimestamp(built, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    result = compliance(
        "report", "--rules", str(ROOT / "rules"), "--geoip-db", str(database), "--format", "markdown", "-o", "-",
        cwd=tmp_path,
    )  # fmt: skip
    assert f"- GeoIP database: {database}: GeoIP2-City, built {when}" in result.stdout.splitlines()
    (tmp_path / "broken.mmdb").write_bytes(b"not a database")
    broken = compliance("report", "--rules", str(ROOT / "rules"), "--geoip-db", "broken.mmdb", cwd=tmp_path)
    assert broken.returncode == 2
    assert broken.stderr.startswith('compliance report: cannot read the GeoIP database "broken.mmdb": ')
    assert not (tmp_path / "compliance-report.html").exists()


def test_with_tests_the_report_holds_the_case_results_and_the_coverage(tmp_path: Path) -> None:
    (tmp_path / "cases.yaml").write_text(
        textwrap.dedent(
            """\
            cases:
              - name: A reader in Russia sees the warning
                request: {path: /news/a, country: RU}
                expect: {notices: [undesirable-organization]}
              - name: A reader in Belarus sees the warning
                request: {path: /news/a, country: BY}
                expect: {notices: [undesirable-organization]}
            """
        ),
        encoding="utf-8",
    )
    result = compliance("report", "--rules", str(ROOT / "rules"), "--with-tests", "cases.yaml", cwd=tmp_path)
    assert result.stdout == "Wrote compliance-report.html: 1 notice, 1 rule; cases: 1 passed, 1 failed, 0 skipped.\n"
    assert result.returncode == 1
    page = (tmp_path / "compliance-report.html").read_text(encoding="utf-8")
    assert "<dt>Cases</dt><dd>1 passed, 1 failed, 0 skipped (cases.yaml)</dd>" in page
    assert "<dt>Coverage</dt><dd>every rule (1) is exercised by at least one case</dd>" in page
    assert "<tr><td><strong>PASS</strong></td><td>A reader in Russia sees the warning</td>" in page
    assert "<tr><td><strong>FAIL</strong></td><td>A reader in Belarus sees the warning</td>" in page
