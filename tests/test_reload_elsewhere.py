"""Reloaded rules are read in a helper process and handed over: the same rule set, the same errors."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from bench.resolution import write_many_rules
from compliance import Jurisdiction, RuleFileError
from compliance.rules.decide import Engine
from compliance.rules.load import load_rules
from compliance.sources.elsewhere import helper_pid, load_bundle_elsewhere, load_rules_elsewhere
from compliance.sources.reload import RuleSource
from tests.conftest import ROOT
from tests.test_reload import BROKEN, rules_text

RULES = ROOT / "rules"


def shape(value: Any) -> Any:
    """A value as plain data: what it holds, whatever process built it (sets sorted, patterns by source)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = dataclasses.fields(value)
        return (type(value).__name__, tuple((f.name, shape(getattr(value, f.name))) for f in fields))
    if isinstance(value, dict) or type(value).__name__ == "mappingproxy":
        return ("map", tuple((shape(k), shape(v)) for k, v in value.items()))
    if isinstance(value, list | tuple):
        return tuple(shape(v) for v in value)
    if isinstance(value, set | frozenset):
        return ("set", tuple(sorted((shape(v) for v in value), key=repr)))
    if hasattr(value, "pattern") and not isinstance(value, str):  # a compiled glob or RE2 pattern
        return (type(value).__name__, value.pattern)
    return value


def test_the_helper_reads_the_same_rule_set_in_another_process() -> None:
    here = load_rules(RULES)
    there = load_rules_elsewhere(str(RULES))
    assert helper_pid() not in (None, os.getpid())
    assert shape(there) == shape(here)
    for country in ("RU", "UA", "DE", "US", "GB"):
        reader = Jurisdiction(country, None, False, "static")
        for path in ("/", "/news/story", "/world/story", "/static/app.css", "/api/region"):
            ours, theirs = Engine(here).decide(reader, "", path, 1.8e9), Engine(there).decide(reader, "", path, 1.8e9)
            assert [f.rule.id for f in theirs.fired] == [f.rule.id for f in ours.fired], (country, path)
            # A `re:` pattern compiled again in this process still matches.
            assert Engine(there).covers("", path) == Engine(here).covers("", path)


def test_an_error_comes_back_with_every_problem_where_it_is(tmp_path: Path) -> None:
    path = tmp_path / "ru.yaml"
    path.write_text(BROKEN, encoding="utf-8")
    with pytest.raises(RuleFileError) as here:
        load_rules(path)
    with pytest.raises(RuleFileError) as there:
        load_rules_elsewhere(str(path))
    assert there.value.problems == here.value.problems
    assert (there.value.path, there.value.line, there.value.column) == (str(path), 7, 13)
    assert str(there.value) == str(here.value)


def test_a_bundle_is_read_in_the_helper_too() -> None:
    data = rules_text("bundled").encode()
    there = load_bundle_elsewhere(data, "rules.yaml", "application/yaml")
    assert [rule.id for rule in there.rules] == ["bundled-first", "bundled-second"]


def test_a_reload_goes_through_the_helper_and_the_start_does_not(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(rules_text("old"), encoding="utf-8")
    source = RuleSource(path, interval=None)
    path.write_text(rules_text("new"), encoding="utf-8")
    assert source.reload_now()
    assert helper_pid() not in (None, os.getpid())
    ru = Jurisdiction("RU", None, False, "static")
    assert [f.rule.id for f in source.engine.decide(ru, "", "/", 1.8e9).fired] == ["new-first", "new-second"]


def test_without_a_helper_the_rules_are_read_here_and_it_says_so(tmp_path: Path) -> None:
    # An embedded interpreter (uWSGI, say) whose sys.executable is no Python: reloads still work.
    script = textwrap.dedent(
        f"""
        import logging, sys
        from pathlib import Path
        logging.basicConfig(level=logging.WARNING, format="%(message)s")
        from compliance import Jurisdiction
        from compliance.sources.elsewhere import helper_pid
        from compliance.sources.reload import RuleSource
        from tests.test_reload import rules_text
        path = Path({str(tmp_path / "rules.yaml")!r})
        path.write_text(rules_text("old"), encoding="utf-8")
        source = RuleSource(path, interval=None)
        sys.executable = "/nonexistent/python"
        for tag in ("new", "newer"):
            path.write_text(rules_text(tag), encoding="utf-8")
            assert source.reload_now()
        ru = Jurisdiction("RU", None, False, "static")
        print([f.rule.id for f in source.engine.decide(ru, "", "/", 1.8e9).fired], helper_pid())
        """
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "['newer-first', 'newer-second'] None"
    warned = [line for line in done.stderr.splitlines() if "reloaded in the serving process" in line]
    assert len(warned) == 1, done.stderr  # said once, not at every reload


@pytest.mark.skipif(not hasattr(os, "getpriority"), reason="no process priorities here")
def test_the_helper_reads_at_the_lowest_cpu_priority_and_serving_keeps_its_own() -> None:
    # Where cores are short, a reload's reading must not take them from the serving threads.
    ours = os.getpriority(os.PRIO_PROCESS, 0)
    load_rules_elsewhere(str(RULES))
    pid = helper_pid()
    assert pid is not None
    assert os.getpriority(os.PRIO_PROCESS, pid) == 19
    assert os.getpriority(os.PRIO_PROCESS, 0) == ours


def test_a_reload_of_a_thousand_rules_puts_in_force_what_a_load_here_gives(tmp_path: Path) -> None:
    # Globs, `re:` patterns, hosts, dates, groups, report-only rules: every kind the generator writes,
    # handed over from the helper, decides as the same file loaded in this process does.
    path = write_many_rules(tmp_path / "rules.yaml", 1000)
    source = RuleSource(tmp_path / "rules.yaml", interval=None)
    path.write_text(path.read_text(encoding="utf-8") + "# changed\n", encoding="utf-8")
    assert source.reload_now()
    assert helper_pid() not in (None, os.getpid())
    here = load_rules(path)
    there = source.engine.ruleset
    assert shape(there) == shape(here)
    ours = Engine(here)
    fired = 0
    for country in ("RU", "BY", "UA", "DE", "US"):
        reader = Jurisdiction(country, None, False, "static")
        for host in ("", "edition0.harbour-gazette.example", "edition2.harbour-gazette.example"):
            for where in ("/news/2024/ferry", "/world/x/amp", "/section7/a/print", "/static/a.css", "/healthz"):
                for when in (1.6e9, 1.8e9, 2.1e9):
                    theirs = source.engine.decide(reader, host, where, when)
                    expected = ours.decide(reader, host, where, when)
                    assert [f.rule.id for f in theirs.fired] == [f.rule.id for f in expected.fired]
                    assert source.engine.covers(host, where) == ours.covers(host, where)
                    fired += len(theirs.fired)
    assert fired > 100  # the cases do reach the rules
