"""`compliance test`: the installed command, on rules alone, in-process (--app) and over HTTP (--url)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_CASE_NAMES = [
    "The style sheet is not changed for a reader in Russia",
    "The health check is not changed for a reader in Russia",
    "The JSON API is not changed for a reader in Russia",
    "A reader in Russia sees the warning on an article",
    "A reader in Russia sees the warning on the home page too",
    "A reader in Russia sees the warning on a page that is not found",
    "A reader in Russia whose browser asks for Russian reads the page's language, English",
    "A reader whose address is in Russia sees the warning",
    "A reader in occupied Crimea sees the warning",
    "A reader in Kyiv sees no warning",
    "A reader in Ukraine whose region is not known sees no warning",
    "A reader in the United States sees no warning",
    "A reader whose address is in the United States sees no warning",
    "A reader whose country no source knows sees no warning",
    "A reader using Tor sees no warning",
]
EXAMPLE_OUTPUT = (
    "".join(f"PASS  {name}\n" for name in EXAMPLE_CASE_NAMES)
    + "\nCoverage: every rule (1) is exercised by at least one case.\n\n15 passed, 0 failed, 0 skipped\n"
)
#: The rules alone cannot see the page's text, nor the status of a page no rule blocks: those cases are skipped.
RULES_ONLY_SKIPS = {
    "The health check is not changed for a reader in Russia": (
        "rules/tests/excluded-paths.yaml:8:5: GET /healthz as RU",
        "the page's text can be checked only against the real site (--app or --url)",
    ),
    "A reader in Russia sees the warning on an article": (
        "rules/tests/russia.yaml:5:5: GET /news/press-freedom-report as RU",
        "the page's text can be checked only against the real site (--app or --url)",
    ),
    "A reader in Russia sees the warning on a page that is not found": (
        "rules/tests/russia.yaml:17:5: GET /news/no-such-story as RU",
        "the status 404 of a page no rule blocks is the site's to give",
    ),
    "A reader in Russia whose browser asks for Russian reads the page's language, English": (
        "rules/tests/russia.yaml:21:5: GET /about as RU",
        "the page's text can be checked only against the real site (--app or --url)",
    ),
}
RULES_ONLY_OUTPUT = (
    "".join(
        f"SKIP  {name}\n      {RULES_ONLY_SKIPS[name][0]}\n      skipped: {RULES_ONLY_SKIPS[name][1]}\n"
        if name in RULES_ONLY_SKIPS
        else f"PASS  {name}\n"
        for name in EXAMPLE_CASE_NAMES
    )
    + "\nCoverage: every rule (1) is exercised by at least one case.\n\n11 passed, 0 failed, 4 skipped\n"
)

RULES = """\
notices:
  warning:
    title: Warning
    text: {en: "Readers here, take care.", ru: "Читатели, будьте осторожны."}
    link: {href: "https://example.org/why", text: {en: "Why?", ru: "Почему?"}}
  imprint:
    title: Imprint
    text: {en: "Published by Northwind News."}
rules:
  - id: ru-warning
    notice: warning
    jurisdictions: [RU]
    except_paths: ["/static/**"]
  - id: imprint-everywhere
    notice: imprint
    jurisdictions: ["*"]
    paths: ["/about"]
"""


def compliance(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if k not in ("COMPLIANCE_TEST_SECRET", "COMPLIANCE_RULES")}
    environment.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "compliance", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=environment,
        timeout=120,
    )


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


# -- the example publisher's cases -----------------------------------------------------------


def test_example_cases_pass_on_the_rules_alone_or_are_skipped_with_what_only_the_site_shows() -> None:
    result = compliance("test", "rules/tests", "--rules", "rules", cwd=ROOT)
    assert result.stdout == RULES_ONLY_OUTPUT
    assert result.stderr == ""
    assert result.returncode == 0


def test_example_cases_pass_end_to_end_through_the_example_app() -> None:
    result = compliance("test", "rules/tests", "--rules", "rules", "--app", "examples.app:app", cwd=ROOT)
    assert result.stdout == EXAMPLE_OUTPUT
    assert result.returncode == 0


# -- failures, coverage, exit codes -----------------------------------------------------------


def test_a_failing_case_shows_expected_and_got_and_exits_1(tmp_path: Path) -> None:
    write(tmp_path, "rules.yaml", RULES)
    write(
        tmp_path,
        "tests/cases.yaml",
        """\
        cases:
          - name: A reader in the United States sees the warning
            request: {path: /news/a, country: US}
            expect: {notices: [warning]}
          - name: A reader in Russia sees the warning
            request: {path: /news/a, country: RU}
            expect: {notices: [warning]}
        """,
    )
    result = compliance("test", "tests", "--rules", "rules.yaml", cwd=tmp_path)
    assert result.stdout.splitlines() == [
        "FAIL  A reader in the United States sees the warning",
        "      tests/cases.yaml:2:5: GET /news/a as US",
        "      expected notices: [warning]",
        "      got notices:      []",
        "PASS  A reader in Russia sees the warning",
        "",
        "Rules no case exercised (1 of 2):",
        "  imprint-everywhere  rules.yaml:14:5",
        "",
        "1 passed, 1 failed, 0 skipped",
    ]
    assert result.returncode == 1


def test_status_language_and_block_rules_on_the_rules_alone(tmp_path: Path) -> None:
    write(
        tmp_path,
        "rules.yaml",
        RULES
        + """\
  - id: ru-block-exclusives
    notice: warning
    action: block
    jurisdictions: [RU]
    paths: ["/exclusive/**"]
""",
    )
    write(
        tmp_path,
        "cases.yaml",
        """\
        cases:
          - name: Exclusives are blocked in Russia
            request: {path: /exclusive/story, country: RU}
            expect: {notices: [warning], status: 451}
          - name: Russian readers who ask for Russian get Russian
            request: {path: /news/a, country: RU, page_language: ru, headers: {Accept-Language: ru}}
            expect: {notices: [warning], language: ru}
          - name: Wrongly expects a block
            request: {path: /news/a, country: RU}
            expect: {notices: [warning], status: 451, language: ru}
          - name: Every reader gets the imprint on the about page
            request: {path: /about, country: US}
            expect: {notices: [imprint]}
        """,
    )
    result = compliance("test", "cases.yaml", "--rules", "rules.yaml", cwd=tmp_path)
    assert result.stdout.splitlines() == [
        "PASS  Exclusives are blocked in Russia",
        "PASS  Russian readers who ask for Russian get Russian",
        "FAIL  Wrongly expects a block",
        "      cases.yaml:8:5: GET /news/a as RU",
        "      expected status: 451",
        "      got status:      no block rule fires",
        "      expected language: ru",
        "      got language:      warning in en",
        "PASS  Every reader gets the imprint on the about page",
        "",
        "Coverage: every rule (3) is exercised by at least one case.",
        "",
        "3 passed, 1 failed, 0 skipped",
    ]
    assert result.returncode == 1


def test_a_bad_case_file_is_reported_with_line_and_column_and_exits_2(tmp_path: Path) -> None:
    write(tmp_path, "rules.yaml", RULES)
    write(
        tmp_path,
        "cases.yaml",
        """\
        cases:
          - name: Unknown notice
            request: {path: /, country: RU}
            expect: {notices: [warnings]}
        """,
    )
    result = compliance("test", "cases.yaml", "--rules", "rules.yaml", cwd=tmp_path)
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        'cases.yaml:4:24: error[unknown-notice]: The case "Unknown notice" expects the notice "warnings", which the '
        'rules do not define (their notices: "imprint", "warning").',
        "compliance test: the case files have 1 error; nothing was run.",
    ]
    assert result.returncode == 2


def test_rules_that_do_not_load_exit_2(tmp_path: Path) -> None:
    write(tmp_path, "rules.yaml", "rules:\n  - id: x\n    notice: nothing\n    jurisdictions: [UK]\n")
    write(tmp_path, "cases.yaml", "cases:\n  - {name: a, request: {path: /, country: RU}, expect: {notices: []}}\n")
    result = compliance("test", "cases.yaml", "--rules", "rules.yaml", cwd=tmp_path)
    assert result.stdout == ""
    assert result.stderr.splitlines()[-1] == (
        "The rules in rules.yaml cannot be loaded (2 errors); run `compliance validate rules.yaml` for every problem."
    )
    assert result.returncode == 2


def test_junit_output_for_ci(tmp_path: Path) -> None:
    write(tmp_path, "rules.yaml", RULES)
    write(
        tmp_path,
        "cases.yaml",
        """\
        cases:
          - {name: RU sees it, request: {path: /, country: RU}, expect: {notices: [warning]}}
          - {name: US sees it, request: {path: /, country: US}, expect: {notices: [warning]}}
        """,
    )
    result = compliance("test", "cases.yaml", "--rules", "rules.yaml", "--format", "junit", cwd=tmp_path)
    assert result.returncode == 1
    suites = ET.fromstring(result.stdout)
    assert suites.tag == "testsuites"
    assert (suites.get("tests"), suites.get("failures")) == ("2", "1")
    cases = suites.findall("testsuite/testcase")
    assert [c.get("name") for c in cases] == ["RU sees it", "US sees it"]
    assert cases[0].find("failure") is None
    failure = cases[1].find("failure")
    assert failure is not None
    assert failure.get("message") == "expected notices [warning], got []"


def test_json_and_github_formats(tmp_path: Path) -> None:
    import json

    write(tmp_path, "rules.yaml", RULES)
    write(
        tmp_path,
        "cases.yaml",
        "cases:\n  - {name: US, request: {path: /, country: US}, expect: {notices: [warning]}}\n",
    )
    result = compliance("test", "cases.yaml", "--rules", "rules.yaml", "--format", "json", cwd=tmp_path)
    document = json.loads(result.stdout)
    assert (document["passed"], document["failed"], document["mode"]) == (0, 1, "rules")
    assert document["cases"][0]["mismatches"] == [{"what": "notices", "expected": "[warning]", "got": "[]"}]
    assert [r["rule"] for r in document["uncovered_rules"]] == ["ru-warning", "imprint-everywhere"]
    result = compliance("test", "cases.yaml", "--rules", "rules.yaml", "--format", "github", cwd=tmp_path)
    assert result.stdout.splitlines() == [
        "::error file=cases.yaml,line=2,col=5,title=FAIL US::cases.yaml:2:5: GET / as US%0Aexpected notices: "
        "[warning]%0Agot notices: []",
        '::warning file=rules.yaml,line=10,col=5,title=compliance coverage::No case exercises the rule "ru-warning".',
        "::warning file=rules.yaml,line=14,col=5,title=compliance coverage::No case exercises the rule "
        '"imprint-everywhere".',
        "0 passed, 1 failed, 0 skipped",
    ]
    assert result.returncode == 1


# -- end to end in-process ------------------------------------------------------------------------

APP_MODULE = """\
from pathlib import Path

from compliance import ComplianceMiddleware
from examples.news_site import app as site

app = ComplianceMiddleware(site, rules=str(Path(__file__).parent / "rules.yaml"))
"""


def test_ip_cases_and_page_text_end_to_end_in_process(tmp_path: Path) -> None:
    write(tmp_path, "rules.yaml", RULES)
    write(tmp_path, "staging_app.py", APP_MODULE)
    write(
        tmp_path,
        "cases.yaml",
        """\
        cases:
          - name: An address in Russia gets the warning
            request: {path: /news/river-port-reopens, ip: 95.173.136.70}
            expect: {notices: [warning], status: 200, language: en, contains: ["Why?"]}
          - name: Every reader gets the imprint on the about page
            request: {path: /about, ip: 8.8.8.8}
            expect: {notices: [imprint], status: 200}
          - name: The page says something it does not
            request: {path: /news/river-port-reopens, country: US}
            expect: {notices: [], contains: ["Northwind News is closed"]}
        """,
    )
    result = compliance("test", "cases.yaml", "--rules", "rules.yaml", "--app", "staging_app:app", cwd=tmp_path)
    assert result.stdout.splitlines() == [
        "PASS  An address in Russia gets the warning",
        "PASS  Every reader gets the imprint on the about page",
        "FAIL  The page says something it does not",
        "      cases.yaml:8:5: GET /news/river-port-reopens as US",
        '      expected text: the page contains "Northwind News is closed"',
        "      got text:      not found in the page",
        "",
        "Coverage: every rule (2) is exercised by at least one case.",
        "",
        "2 passed, 1 failed, 0 skipped",
    ]
    assert result.returncode == 1


def test_a_block_rule_shows_as_451_end_to_end_in_process(tmp_path: Path) -> None:
    write(
        tmp_path,
        "rules.yaml",
        RULES
        + """\
  - id: ru-block-about
    notice: warning
    action: block
    jurisdictions: [RU]
    paths: ["/about"]
""",
    )
    write(tmp_path, "staging_app.py", APP_MODULE)
    write(
        tmp_path,
        "cases.yaml",
        """\
        cases:
          - name: The about page is blocked in Russia
            request: {path: /about, country: RU}
            expect: {notices: [warning], status: 451, contains: ["Readers here, take care."]}
          - name: The about page is blocked in Russia, and says so in JSON to a JSON client
            request: {path: /about, country: RU, headers: {Accept: application/json}}
            expect: {notices: [warning], status: 451}
        """,
    )
    result = compliance("test", "cases.yaml", "--rules", "rules.yaml", "--app", "staging_app:app", cwd=tmp_path)
    assert result.stdout.splitlines()[:2] == [
        "PASS  The about page is blocked in Russia",
        "PASS  The about page is blocked in Russia, and says so in JSON to a JSON client",
    ]
    assert result.stdout.splitlines()[-1] == "2 passed, 0 failed, 0 skipped"
    assert result.returncode == 0


def test_an_app_that_cannot_be_imported_exits_2(tmp_path: Path) -> None:
    write(tmp_path, "rules.yaml", RULES)
    write(tmp_path, "cases.yaml", "cases:\n  - {name: a, request: {path: /, country: RU}, expect: {notices: []}}\n")
    result = compliance("test", "cases.yaml", "--rules", "rules.yaml", "--app", "no_such_module:app", cwd=tmp_path)
    assert result.stderr == (
        "compliance test: cannot import the module 'no_such_module': ModuleNotFoundError: No module named "
        "'no_such_module'\n"
    )
    assert result.returncode == 2


# -- end to end over HTTP, against a real uvicorn ------------------------------------------------------

STAGING_MODULE = """\
import os

from compliance import ComplianceMiddleware
from examples.news_site import app as site

app = ComplianceMiddleware(
    site,
    rules=os.environ["COMPLIANCE_RULES"],
    trusted_proxies=["127.0.0.1"],
    test_secret=os.environ["STAGING_SECRET"],
)
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
def staging(tmp_path: Path) -> Iterator[str]:
    """The example site behind the middleware, served by uvicorn on a free loopback port, with a test secret."""
    write(tmp_path, "staging.py", STAGING_MODULE)
    port = _free_port()
    env = {**os.environ, "COMPLIANCE_RULES": str(ROOT / "rules"), "STAGING_SECRET": "s3cret-for-tests"}
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--app-dir", str(tmp_path), "staging:app", "--host", "127.0.0.1",
         "--port", str(port), "--log-level", "warning", "--lifespan", "off"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("uvicorn did not start") from None
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        if server.stderr is not None:
            server.stderr.close()


def test_example_cases_pass_against_a_staging_server(staging: str) -> None:
    result = compliance(
        "test", "rules/tests", "--rules", "rules", "--url", staging, cwd=ROOT,
        env={"COMPLIANCE_TEST_SECRET": "s3cret-for-tests"},
    )  # fmt: skip
    assert result.stdout == EXAMPLE_OUTPUT
    assert result.returncode == 0


def test_the_staging_server_does_not_believe_a_wrong_secret(staging: str) -> None:
    # Attack: a wrong secret. The server decides as for the runner's own address, and pages
    # without a notice would "pass" the cases that expect none: every case with a token fails instead
    # (the two `ip:` cases carry no token and pass on the address alone).
    result = compliance(
        "test", "rules/tests", "--rules", "rules", "--url", staging, "--secret", "a-wrong-secret-of-length", cwd=ROOT
    )
    lines = result.stdout.splitlines()
    assert "FAIL  A reader in Russia sees the warning on an article" in lines
    failed = [line for line in lines if line.startswith("FAIL")]
    assert len(failed) == 13, lines
    assert "      expected test token: honoured by the server" in lines
    assert lines[-1] == "2 passed, 13 failed, 0 skipped"
    assert result.returncode == 1


def test_a_test_secret_shorter_than_16_characters_is_refused(tmp_path: Path) -> None:
    result = compliance("test", str(ROOT / "rules/tests"), "--rules", str(ROOT / "rules"), "--url",
                        "http://127.0.0.1:9", "--secret", "guess", cwd=tmp_path)  # fmt: skip
    assert "the test secret must be at least 16 characters" in result.stderr
    assert result.returncode == 2


def test_country_cases_over_http_need_the_secret(tmp_path: Path) -> None:
    result = compliance("test", str(ROOT / "rules/tests"), "--rules", str(ROOT / "rules"), "--url",
                        "http://127.0.0.1:9", cwd=tmp_path)  # fmt: skip
    assert result.stderr == (
        "compliance test: cases that give a country need the server's test secret: pass --secret or set "
        "COMPLIANCE_TEST_SECRET.\n"
    )
    assert result.returncode == 2


def test_a_server_that_cannot_be_reached_exits_2(tmp_path: Path) -> None:
    port = _free_port()
    result = compliance(
        "test", str(ROOT / "rules/tests"), "--rules", str(ROOT / "rules"), "--url", f"http://127.0.0.1:{port}",
        "--secret", "a-secret-long-enough-to-use", cwd=tmp_path,
    )  # fmt: skip
    assert result.stderr.startswith(f"compliance test: cannot reach http://127.0.0.1:{port}: ")
    assert result.returncode == 2


# -- what a case can say: subsets, order, the moment, query strings, the page's language -------------

SUBSET_RULES = """\
notices:
  warning:
    title: Warning
    text: {en: "Readers here, take care.", ru: "Читатели, будьте осторожны."}
  imprint:
    title: Imprint
    text: {en: "Published by Northwind News.", ru: "Издатель: Northwind News."}
  trial:
    title: Trial notice
    text: {en: "A trial is under way."}
rules:
  - id: ru-warning
    notice: warning
    jurisdictions: [RU]
    priority: 10
  - id: imprint-everywhere
    notice: imprint
    jurisdictions: ["*"]
  - id: trial-reporting
    notice: trial
    jurisdictions: [GB]
    paths: ["/court/**"]
    until: 2026-03-01
"""


def test_includes_and_excludes_care_only_about_the_notices_they_name(tmp_path: Path) -> None:
    write(tmp_path, "rules.yaml", SUBSET_RULES)
    write(
        tmp_path,
        "cases.yaml",
        """\
        cases:
          - name: Russia gets the warning, whatever else
            request: {path: /news/a, country: RU}
            expect: {includes: [warning]}
          - name: The United States gets no warning
            request: {path: /news/a, country: US}
            expect: {excludes: [warning]}
          - name: Wrongly expects no imprint
            request: {path: /news/a, country: US}
            expect: {excludes: [imprint]}
        """,
    )
    result = compliance("test", "cases.yaml", "--rules", "rules.yaml", cwd=tmp_path)
    assert result.stdout.splitlines()[:6] == [
        "PASS  Russia gets the warning, whatever else",
        "PASS  The United States gets no warning",
        "FAIL  Wrongly expects no imprint",
        "      cases.yaml:8:5: GET /news/a as US",
        "      expected notices: none of [imprint]",
        "      got notices:      [imprint]",
    ]
    assert result.stdout.splitlines()[-1] == "2 passed, 1 failed, 0 skipped"


def test_order_at_and_a_query_string_on_the_rules_alone(tmp_path: Path) -> None:
    write(tmp_path, "rules.yaml", SUBSET_RULES)
    write(
        tmp_path,
        "cases.yaml",
        """\
        cases:
          - name: The warning goes before the imprint
            request: {path: "/news/a?page=2", country: RU}
            expect: {order: [warning, imprint]}
          - name: Wrong order
            request: {path: /news/a, country: RU}
            expect: {order: [imprint, warning]}
          - name: During the trial readers in Britain get the notice
            request: {path: /court/case, country: GB, at: 2026-02-28}
            expect: {includes: [trial]}
          - name: After the trial ends the report is readable without it
            request: {path: /court/case, country: GB, at: "2026-03-01T00:00:00Z"}
            expect: {notices: [imprint]}
        """,
    )
    result = compliance("test", "cases.yaml", "--rules", "rules.yaml", cwd=tmp_path)
    assert result.stdout.splitlines()[:7] == [
        "PASS  The warning goes before the imprint",
        "FAIL  Wrong order",
        "      cases.yaml:5:5: GET /news/a as RU",
        "      expected order: [imprint, warning]",
        "      got order:      [warning, imprint]",
        "PASS  During the trial readers in Britain get the notice",
        "PASS  After the trial ends the report is readable without it",
    ]
    assert result.stdout.splitlines()[-1] == "3 passed, 1 failed, 0 skipped"
    assert result.returncode == 1


def test_the_page_language_gives_one_answer_in_every_mode(tmp_path: Path) -> None:
    write(tmp_path, "rules.yaml", SUBSET_RULES)
    write(
        tmp_path,
        "cases.yaml",
        """\
        cases:
          - name: On an English page a reader whose browser asks for Russian reads English
            request: {path: /news/a, country: RU, page_language: en, headers: {Accept-Language: ru}}
            expect: {includes: [warning], language: en}
          - name: Without the page's language the rules alone cannot tell
            request: {path: /news/a, country: RU, headers: {Accept-Language: ru}}
            expect: {includes: [warning], language: ru}
        """,
    )
    result = compliance("test", "cases.yaml", "--rules", "rules.yaml", cwd=tmp_path)
    assert result.stdout.splitlines()[:4] == [
        "PASS  On an English page a reader whose browser asks for Russian reads English",
        "SKIP  Without the page's language the rules alone cannot tell",
        "      cases.yaml:5:5: GET /news/a as RU",
        "      skipped: the language follows the page's own language, which the rules alone cannot see; "
        "give the request a page_language",
    ]
    assert result.stdout.splitlines()[-1] == "1 passed, 0 failed, 1 skipped"
    assert result.returncode == 0


def test_end_to_end_a_case_at_another_moment_is_decided_then_and_the_page_language_is_checked(
    tmp_path: Path,
) -> None:
    # Outside the checkout: the suites of several Pythons run side by side in one tree.
    cases = tmp_path / "cases.yaml"
    cases.write_text(
        textwrap.dedent(
            """\
            cases:
              - name: In 2023 the warning did not show yet
                request: {path: /news/press-freedom-report, country: RU, at: 2023-01-01}
                expect: {notices: []}
              - name: The article is in Russian
                request: {path: "/news/press-freedom-report?utm_source=x", country: RU, page_language: ru}
                expect: {includes: [undesirable-organization]}
            """
        ),
        encoding="utf-8",
    )
    result = compliance(
        "test",
        str(cases),
        "--rules",
        "rules",
        "--app",
        "examples.app:app",
        cwd=ROOT,
        env={"COMPLIANCE_RULES": "rules"},
    )
    lines = result.stdout.splitlines()
    # The app decides at the case's moment (the moment reaches it as the jurisdiction does).
    assert lines[0] == "PASS  In 2023 the warning did not show yet"
    assert lines[1:5] == [
        "FAIL  The article is in Russian",
        lines[2],
        "      expected page language: ru",
        "      got page language:      en",
    ]
    assert lines[-1] == "1 passed, 1 failed, 0 skipped"


def test_sarif_names_each_failing_case_and_each_untested_rule(tmp_path: Path) -> None:
    import json

    write(tmp_path, "rules.yaml", RULES)
    write(
        tmp_path,
        "cases.yaml",
        """\
        cases:
          - name: Belarus sees the warning
            request: {path: /news/a, country: BY}
            expect: {includes: [warning]}
        """,
    )
    result = compliance("test", "cases.yaml", "--rules", "rules.yaml", "--format", "sarif", cwd=tmp_path)
    found = json.loads(result.stdout)["runs"][0]["results"]
    assert [(r["ruleId"], r["locations"][0]["physicalLocation"]["region"]["startLine"]) for r in found] == [
        ("case-failed", 2),
        ("rule-not-tested", 10),
        ("rule-not-tested", 14),
    ]
    assert result.returncode == 1
