"""A pytest plugin: the case files of `compliance test`, collected as pytest test items.

Each case is an item named by the case's `name`, so `-k`, `-x`, `--lf`, xdist,
`--junitxml` and an IDE's test runner work as for any test. The plugin is
installed with the package (entry point `pytest11`) and does nothing until the
project's pytest configuration names the rules:

    [tool.pytest.ini_options]
    testpaths = ["tests", "rules/tests"]
    compliance_rules = "rules"                 # the rule folder (or file); turns the plugin on
    compliance_app = "examples.app:app"        # optional: run the cases through this app, in process
    # compliance_url = "https://staging.example.org"   # optional: or against this server
    # compliance_geoip_db = "GeoLite2-City.mmdb"        # optional: for ip: cases, rules only

Without `compliance_app` or `compliance_url` the cases run against the rules
alone, as `compliance test` does. Against a server, the test secret comes from
the `COMPLIANCE_TEST_SECRET` environment variable. The case files collected are
the `*.yaml` / `*.yml` files in a folder named `tests` inside the rules folder,
wherever pytest is asked to look (`testpaths`, or the paths given to pytest).
A case that this mode cannot check is skipped with the reason; one that fails
says what was expected and what the reader got, at the case's FILE:LINE:COL.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

__all__ = ["CaseFailed", "CaseFile", "CaseItem", "pytest_addoption", "pytest_collect_file"]

_RULES = "compliance_rules"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(_RULES, "compliance: the rule folder (or file) whose tests/*.yaml cases become test items")
    parser.addini("compliance_app", "compliance: MODULE:ATTR of an ASGI app to run the cases through, in process")
    parser.addini("compliance_url", "compliance: the URL of a server to run the cases against")
    parser.addini("compliance_geoip_db", "compliance: a MaxMind-format database, for ip: cases (rules only)")


class _Session:
    """What every item of one pytest run shares: the rules, the app, the resolver."""

    def __init__(self, config: pytest.Config) -> None:
        from compliance.errors import RuleFileError
        from compliance.reader.resolve import JurisdictionResolver
        from compliance.rules.decide import Engine
        from compliance.rules.load import load_rules

        root = Path(str(config.rootpath))
        self.rules_path = Path(_shown(root / str(config.getini(_RULES))))
        self.error: str | None = None
        self.app: Any = None
        self.url: str | None = str(config.getini("compliance_url")) or None
        self.mode = "rules"
        try:
            self.ruleset = load_rules(str(self.rules_path))
        except RuleFileError as error:
            self.error = "".join(f"{p}\n" for p in error.errors) + (
                f"The rules in {self.rules_path} cannot be loaded; run `compliance validate {self.rules_path}`."
            )
            return
        self.engine = Engine(self.ruleset)
        geoip = str(config.getini("compliance_geoip_db")) or None
        self.resolver = JurisdictionResolver(geoip_db=str(root / geoip) if geoip else None)
        spec = str(config.getini("compliance_app"))
        if spec:
            from compliance.cli.test import import_app

            self.mode = "app"
            try:
                self.app = import_app(spec)
            except ValueError as error:
                self.error = f"compliance_app: {error}"
        elif self.url:
            self.mode = "url"

    def covers(self, path: Path) -> bool:
        """Whether `path` is a case file of the rules: in a `tests` folder inside the rules folder."""
        folder = self.rules_path if self.rules_path.is_dir() else self.rules_path.parent
        try:
            inside = path.resolve().relative_to(folder.resolve())
        except ValueError:
            return False
        return path.suffix in (".yaml", ".yml") and "tests" in inside.parts[:-1]


def _shown(path: Path) -> str:
    """`path` as messages give it: relative to the current folder where it is inside it."""
    relative = os.path.relpath(path)
    return path.as_posix() if relative.startswith("..") else Path(relative).as_posix()


_KEY = pytest.StashKey[_Session]()


def _session(config: pytest.Config) -> _Session | None:
    if not config.getini(_RULES):
        return None
    if _KEY not in config.stash:
        config.stash[_KEY] = _Session(config)
    return config.stash[_KEY]


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> CaseFile | None:
    session = _session(parent.config)
    if session is None or not session.covers(file_path):
        return None
    made: CaseFile = CaseFile.from_parent(parent, path=file_path)
    return made


class CaseFile(pytest.File):
    """One case file: an item per case. A mistake in the file is a collection error at its FILE:LINE:COL."""

    def collect(self) -> Iterator[CaseItem]:
        from compliance.cli.cases import check_notices, load_cases

        session = _session(self.config)
        assert session is not None
        if session.error is not None:
            raise self.CollectError(session.error)
        cases, problems, _ = load_cases([_shown(self.path)])
        problems += check_notices(cases, session.ruleset.notices)
        errors = [p for p in problems if p.severity == "error"]
        if errors:
            raise self.CollectError("".join(f"{p}\n" for p in errors).rstrip("\n"))
        for case in cases:
            item: CaseItem = CaseItem.from_parent(self, name=case.name, case=case)
            yield item

    class CollectError(Exception):
        pass

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException]) -> str:  # type: ignore[override]
        if isinstance(excinfo.value, CaseFile.CollectError):
            return str(excinfo.value)
        return str(super().repr_failure(excinfo))


class CaseFailed(Exception):
    """A case whose reader did not get what it expects; the message says what they got."""


class CaseItem(pytest.Item):
    def __init__(self, *, case: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.case = case

    def runtest(self) -> None:
        from compliance.cli.case_output import case_where
        from compliance.cli.test import SECRET_ENV, observe
        from compliance.cli.verdict import judge

        session = _session(self.config)
        assert session is not None
        try:
            seen, unhonoured = observe(
                [self.case],
                session.ruleset,
                app=session.app,
                url=session.url if session.mode == "url" else None,
                secret=os.environ.get(SECRET_ENV),
            )
        except ValueError as error:
            raise CaseFailed(f"{self.case.location}: {error}") from None
        now = time.time()
        result = judge(session.engine, session.resolver, [self.case], seen, session.mode, now, unhonoured)[0]
        if result.failed:
            lines = [case_where(result)]
            for m in result.mismatches:
                lines += [f"expected {m.what}: {m.expected}", f"got {m.what}: {m.got}"]
            raise CaseFailed("\n".join(lines))
        if result.skipped is not None:
            pytest.skip(result.skipped)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, CaseFailed):
            return str(excinfo.value)
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, self.case.location.line - 1, f"case: {self.case.name}"
