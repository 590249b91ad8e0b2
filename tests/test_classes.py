"""Jurisdiction classes: the partition of readers by what the rules give them, and its map's version."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from compliance.reader.jurisdiction import Jurisdiction
from compliance.rules import load_rules
from compliance.rules.classes import NO_NOTICE_CLASS, ClassTable
from compliance.rules.decide import Engine
from tests.conftest import NOTICE_YAML, rule_file

ROOT = Path(__file__).resolve().parent.parent


def table(tmp_path: Path, rules: str, notices: str = NOTICE_YAML) -> ClassTable:
    return ClassTable(Engine(load_rules(rule_file(tmp_path, rules, notices))))


def test_the_example_rules_give_two_classes_russia_with_occupied_ukraine_and_everyone_else() -> None:
    classes = ClassTable(Engine(load_rules(ROOT / "rules"))).at(time.time())
    assert len(classes.classes) == 2
    russia = classes.members["RU"]
    assert russia != NO_NOTICE_CLASS
    assert set(classes.classes[russia].members) == {"RU", "UA-43", "UA-40", "UA-14", "UA-09", "UA-23", "UA-65"}
    assert classes.classes[russia].notices == ("undesirable-organization",)
    for everyone_else in ("UA", "DE", "US", "GB", "unknown", "anonymous"):
        assert classes.members[everyone_else] == NO_NOTICE_CLASS
    assert classes.default == NO_NOTICE_CLASS
    assert classes.valid_from == datetime(2024, 8, 20, tzinfo=UTC).timestamp()
    assert classes.valid_until is None


def test_names_and_version_are_the_same_on_every_load() -> None:
    first = ClassTable(Engine(load_rules(ROOT / "rules"))).at(time.time())
    second = ClassTable(Engine(load_rules(ROOT / "rules"))).at(time.time())
    assert first.version == second.version
    assert dict(first.members) == dict(second.members)
    assert first.to_json() == second.to_json()


def test_a_new_notice_text_changes_the_version_but_not_the_names(tmp_path: Path) -> None:
    rules = "rules:\n  - {id: ru, notice: warning, jurisdictions: [RU]}\n"
    before = table(tmp_path, rules)
    after = table(tmp_path, rules, NOTICE_YAML.replace("take care", "be careful"))
    now = time.time()
    assert before.at(now).members == after.at(now).members
    assert before.at(now).version != after.at(now).version


def test_a_rule_for_everyone_and_a_report_only_rule_split_no_class(tmp_path: Path) -> None:
    rules = """
    rules:
      - {id: imprint, notice: warning, jurisdictions: ["*"], placement: {header: X-Imprint}}
      - {id: ru, notice: warning, jurisdictions: [RU]}
      - {id: de-trial, notice: warning, jurisdictions: [DE], mode: report-only}
    """
    classes = table(tmp_path, rules).at(time.time())
    assert len(classes.classes) == 2
    assert classes.members["DE"] == classes.members["US"] == NO_NOTICE_CLASS
    assert classes.classes[NO_NOTICE_CLASS].notices == ("warning",)  # the imprint, everyone's


def test_subdivisions_a_rule_names_are_members_and_except_splits_them_off(tmp_path: Path) -> None:
    rules = """
    rules:
      - {id: ua, notice: warning, jurisdictions: [UA], except_jurisdictions: [UA-30]}
      - {id: tor, notice: warning, jurisdictions: [anonymous], action: block}
    """
    classes = table(tmp_path, rules).at(time.time())
    assert "UA-43" not in classes.members  # no rule names it
    assert classes.members["UA-30"] == NO_NOTICE_CLASS
    assert classes.members["UA"] != NO_NOTICE_CLASS
    assert classes.classes[classes.members["anonymous"]].blocks == ("warning",)
    # A reader the edge cannot tell apart (a subdivision no rule names) gets its country's class.
    ua_12 = classes.class_of(Jurisdiction("UA", "UA-12"))
    assert ua_12 is not None and ua_12.name == classes.members["UA"]


def test_from_and_until_split_time_and_each_map_states_its_period(tmp_path: Path) -> None:
    rules = """
    rules:
      - {id: ru, notice: warning, jurisdictions: [RU]}
      - {id: by, notice: warning, jurisdictions: [BY], from: 2030-01-01, until: 2031-01-01}
    """
    t = table(tmp_path, rules)
    assert len(t.maps) == 3
    now, during = t.at(time.time()), t.at(datetime(2030, 6, 1, tzinfo=UTC).timestamp())
    assert now.members["BY"] == NO_NOTICE_CLASS and during.members["BY"] != NO_NOTICE_CLASS
    assert now.version != during.version
    assert now.valid_until == datetime(2030, 1, 1, tzinfo=UTC).timestamp()
    assert during.to_json()["valid_from"] == "2030-01-01T00:00:00Z"
    assert during.to_json()["valid_until"] == "2031-01-01T00:00:00Z"
    after = t.at(datetime(2032, 1, 1, tzinfo=UTC).timestamp())
    assert after.version == t.maps[2].version and after.members["BY"] == NO_NOTICE_CLASS


def test_periods_with_the_same_classes_are_one_map(tmp_path: Path) -> None:
    rules = """
    rules:
      - {id: ru-a, notice: warning, jurisdictions: [RU], until: 2030-01-01}
      - {id: ru-b, notice: warning, jurisdictions: [RU], from: 2030-01-01}
      - {id: ru, notice: warning, jurisdictions: [RU], from: 2020-01-01}
    """
    t = table(tmp_path, rules)
    # Adjacent periods never repeat a map: they would have been merged.
    assert all(a.version != b.version for a, b in zip(t.maps, t.maps[1:], strict=False))
    for before, after in zip(t.maps, t.maps[1:], strict=False):
        assert before.valid_until == after.valid_from


def test_class_lookup_by_header_value(tmp_path: Path) -> None:
    classes = table(tmp_path, "rules:\n  - {id: ru, notice: warning, jurisdictions: [RU]}\n").at(time.time())
    ru = classes.members["RU"]
    assert classes.by_header[classes.header_value(ru).encode()].name == ru
    assert classes.header_value(ru).encode() + b"x" not in classes.by_header


def test_explain_names_the_readers_class(capsys: pytest.CaptureFixture[str]) -> None:
    from compliance.cli import main

    main(["explain", "--rules", str(ROOT / "rules"), "--country", "UA", "--subdivision", "UA-43", "--path", "/news/x"])
    russia = ClassTable(Engine(load_rules(ROOT / "rules"))).at(time.time()).members["RU"]
    assert f"Class: {russia} (map version" in capsys.readouterr().out
