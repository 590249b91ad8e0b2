"""The pytest plugin: case files collected as pytest items, once a project names its rules."""

from __future__ import annotations

import pytest

RULES = """\
notices:
  warning: {title: Russia warning, text: {en: Careful.}}
rules:
  - {id: ru-warning, notice: warning, jurisdictions: [RU], except_paths: ["/static/**"]}
"""

CASES = """\
cases:
  - name: A reader in Russia sees the warning
    request: {path: /news/a, country: RU}
    expect: {notices: [warning]}
  - name: A reader in Belarus sees the warning
    request: {path: /news/a, country: BY}
    expect: {notices: [warning]}
  - name: Style sheets are left alone
    request: {path: /static/site.css, country: RU}
    expect: {notices: []}
  - name: The page says Careful
    request: {path: /news/a, country: RU}
    expect: {contains: [Careful.]}
"""

APP = """\
from pathlib import Path

from starlette.applications import Starlette
from starlette.responses import HTMLResponse
from starlette.routing import Route

from compliance import ComplianceMiddleware


async def page(request):
    return HTMLResponse("<html lang='en'><body><p>Story.</p></body></html>")


app = ComplianceMiddleware(Starlette(routes=[Route("/{path:path}", page)]), rules=str(Path(__file__).parent / "rules"))
"""


def _project(pytester: pytest.Pytester, ini: str = "compliance_rules = rules\n") -> None:
    pytester.makefile(".yaml", **{"rules/rules": RULES, "rules/tests/russia": CASES})
    pytester.makeini("[pytest]\ntestpaths = rules/tests\n" + ini)


def test_a_project_that_names_no_rules_collects_nothing(pytester: pytest.Pytester) -> None:
    _project(pytester, ini="")
    result = pytester.runpytest("rules/tests")
    assert result.ret == pytest.ExitCode.NO_TESTS_COLLECTED
    result.stdout.fnmatch_lines(["*no tests ran*"])


def test_each_case_is_an_item_that_passes_fails_or_is_skipped_with_the_reason(pytester: pytest.Pytester) -> None:
    _project(pytester)
    result = pytester.runpytest("-rs", "-v")
    result.assert_outcomes(passed=2, failed=1, skipped=1)
    result.stdout.fnmatch_lines(
        [
            "*russia.yaml::A reader in Russia sees the warning PASSED*",
            "*russia.yaml::A reader in Belarus sees the warning FAILED*",
            "*rules/tests/russia.yaml:5:5: GET /news/a as BY",
            "expected notices: [[]warning[]]",
            "got notices: [[][]]",
            "SKIPPED*the page's text can be checked only against the real site (--app or --url)",
        ]
    )


def test_k_and_x_and_junitxml_work_as_for_any_test(pytester: pytest.Pytester) -> None:
    _project(pytester)
    selected = pytester.runpytest("-k", "Style")
    selected.assert_outcomes(passed=1)
    stopped = pytester.runpytest("-x")
    stopped.assert_outcomes(passed=1, failed=1)
    pytester.runpytest("--junitxml=report.xml")
    report = (pytester.path / "report.xml").read_text(encoding="utf-8")
    assert 'name="A reader in Belarus sees the warning"' in report
    assert "expected notices: [warning]" in report


def test_through_the_app_in_process(pytester: pytest.Pytester) -> None:
    _project(pytester, ini="compliance_rules = rules\ncompliance_app = plugin_site_app:app\n")
    pytester.makepyfile(plugin_site_app=APP)
    result = pytester.runpytest()
    # End to end the page's text can be checked: the fourth case passes too.
    result.assert_outcomes(passed=3, failed=1)


def test_a_mistake_in_a_case_file_is_a_collection_error_with_its_place(pytester: pytest.Pytester) -> None:
    _project(pytester)
    pytester.makefile(
        ".yaml", **{"rules/tests/broken": "cases:\n  - {name: a, request: {path: news, country: RU}, expect: {}}\n"}
    )
    result = pytester.runpytest()
    result.stdout.fnmatch_lines(['rules/tests/broken.yaml:2:31: error[[]bad-path[]]: "news" is not a path*'])
    assert result.ret == pytest.ExitCode.INTERRUPTED


def test_rules_that_do_not_load_say_so_at_their_place(pytester: pytest.Pytester) -> None:
    _project(pytester)
    pytester.makefile(".yaml", **{"rules/rules": RULES.replace("[RU]", "[UK]")})
    result = pytester.runpytest()
    result.stdout.fnmatch_lines(['rules/rules.yaml:4:*: error[[]unknown-jurisdiction[]]: "UK" is not*'])
