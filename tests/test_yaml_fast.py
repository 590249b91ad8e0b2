"""The fast YAML reader (libyaml events) against the reference one (PyYAML's pure parser)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from compliance.rules import yamlevents, yamlstrict
from compliance.rules.yamlstrict import read_yaml

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.skipif(yamlevents._CParser is None, reason="PyYAML without libyaml")

PIECES = [
    "a",
    "key",
    "é",
    "日本",
    "😀",
    "1",
    "NO",
    "on",
    "2024-08-20",
    ":",
    ": ",
    "- ",
    "-",
    " ",
    "  ",
    "    ",
    "\n",
    "\r\n",
    "\r",
    "\t",
    "#",
    " # c",
    "'",
    '"',
    "\\",
    "[",
    "]",
    "{",
    "}",
    ", ",
    "|",
    ">",
    "|-\n  ",
    "&a ",
    "*a",
    "!t ",
    "!!str ",
    "---\n",
    "...\n",
    "%",
    "@",
    "?",
    "\x00",
    "\x85",
    "\ufeff",
    "\x07",
    "\ud800",
]

YAMLISH = st.lists(st.sampled_from(PIECES), max_size=40).map("".join)

LINES = st.lists(
    st.tuples(
        st.sampled_from(["", "  ", "    ", "- ", "  - "]),
        st.sampled_from(["a", "b", "key", "é", "'q'", '"d"', "[x, y]", "{k: v}"]),
        st.sampled_from([": ", ":", ": [1, 2]", ": {a: b}", ": 'x' # n", ": x # n", ": |\n    t", ""]),
        st.sampled_from(["", " 1", " two words", " # c", ' "s"']),
    ),
    max_size=12,
).map(lambda lines: "\n".join("".join(parts) for parts in lines) + "\n")


def same_as_reference(text: str) -> None:
    fast = yamlevents.read_events(text, "x.yaml")
    if fast is not None:
        assert fast == yamlstrict._read_pure(text, "x.yaml")


@settings(max_examples=400, deadline=None)
@given(YAMLISH)
def test_fast_reader_agrees_with_reference_on_any_text(text: str) -> None:
    same_as_reference(text)


@settings(max_examples=400, deadline=None)
@given(LINES)
def test_fast_reader_agrees_with_reference_on_yaml_like_lines(text: str) -> None:
    same_as_reference(text)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "# only a comment\n",
        "a: 1\nb:\n  - x # note\n  - 'y'\nc: {d: e}\n",
        "a: 1\r\nb: two # c\r\n",
        "a: 1\na: 2\nb: {c: 1, c: 2}\n",
        "text: |\n  line one\n  line two\n",
        "key: >-\n  folded\n  text\n",
        "- [a, b]\n- {c: d}\n",
        "plain: multi\n  line value\n",
        "emoji: 😀 x # after\n",
    ],
)
def test_clean_files_take_the_fast_path_and_agree(text: str) -> None:
    fast = yamlevents.read_events(text, "x.yaml")
    assert fast is not None
    assert fast == yamlstrict._read_pure(text, "x.yaml")


@pytest.mark.parametrize(
    "text",
    [
        "a: &x 1\nb: *x\n",
        "a: !!str 1\n",
        "a: 1\n---\nb: 2\n",
        "? [a]\n: b\n",
        "a:\tb\n",
        "a: [1\n",
        "a: 1\rb: 2\n",
        "a: |#\n  x\n",
        "--- \n",
        "a: " + "[" * 100 + "]" * 100 + "\n",
    ],
)
def test_what_the_fast_path_leaves_to_the_reference(text: str) -> None:
    assert yamlevents.read_events(text, "x.yaml") is None
    assert read_yaml(text, "x.yaml") == yamlstrict._read_pure(text, "x.yaml")


def test_the_example_rule_files_read_fast() -> None:
    files = [p for p in ROOT.rglob("*.yaml") if ".venv" not in p.parts and ".git" not in p.parts]
    assert files
    for path in files:
        text = path.read_text(encoding="utf-8").removeprefix("\ufeff")
        fast = yamlevents.read_events(text, str(path))
        assert fast is not None, path
        assert fast == yamlstrict._read_pure(text, str(path))


def test_without_libyaml_the_reference_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(yamlevents, "_CParser", None)
    value, problems = read_yaml("a: 1\na: 2\n", "x.yaml")
    assert problems and problems[0].code == "duplicate-key"
    assert value is not None
