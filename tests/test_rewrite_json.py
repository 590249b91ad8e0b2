"""The `{json: FIELD}` placement (compliance.respond.json)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from compliance.respond.json import JsonInserter, notice_item, notices_json
from compliance.rules.model import Link, Notice

VALUE = b'[{"id":"warning","language":"en","text":"Take care.","link":null}]'
LISTED = json.loads(VALUE)

WARNING = Notice(
    id="warning",
    title="Test warning",
    text={
        "en": "Readers here: take care.\n\nSecond paragraph,\nwrapped.\n",
        "ru": "Читатели здесь: будьте осторожны.",
    },
    default_language="en",
    link=Link("https://example.org/why", {"en": "Why?", "ru": "Почему?"}),
)
PLAIN = Notice(id="imprint", title="Imprint", text={"en": "Published by Northwind News."}, default_language="en")

NOT_UTF8 = "the JSON is in UTF-16 or UTF-32, not UTF-8: a field in UTF-8 would corrupt it"


def run(inserter: JsonInserter, chunks: Sequence[bytes]) -> bytes:
    return b"".join([*(inserter.feed(chunk) for chunk in chunks), inserter.close()])


def split(data: bytes, cuts: Sequence[int]) -> list[bytes]:
    points = sorted({min(c, len(data)) for c in cuts})
    edges = [0, *points, len(data)]
    return [data[a:b] for a, b in zip(edges, edges[1:], strict=False)]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
objects = st.dictionaries(st.sampled_from(["a", "notices", "b", "é", 'q"uote', ""]) | st.text(max_size=6), json_values)
whitespace = st.text(alphabet=" \t\n\r", max_size=4)


@st.composite
def object_bodies(draw: st.DrawFn) -> tuple[dict[str, Any], bytes]:
    obj = draw(objects)
    indent = draw(st.sampled_from([None, 0, 2, "\t"]))
    separators = draw(st.sampled_from([None, (",", ":"), (", ", " : ")]))
    text = json.dumps(obj, indent=indent, separators=separators, ensure_ascii=draw(st.booleans()))
    if not obj:
        text = "{" + draw(whitespace) + "}"
    bom = "\ufeff" if draw(st.booleans()) else ""
    return obj, (bom + draw(whitespace) + text + draw(whitespace)).encode("utf-8")


@settings(max_examples=100, deadline=None)
@given(
    case=object_bodies(),
    field=st.sampled_from(["notices", "a", ""]) | st.text(max_size=6),
    cuts=st.lists(st.integers(0, 400), max_size=8),
)
def test_the_field_is_added_to_any_object_whatever_the_chunking(
    case: tuple[dict[str, Any], bytes], field: str, cuts: list[int]
) -> None:
    obj, body = case
    whole = run(JsonInserter(field, VALUE), [body])
    inserter = JsonInserter(field, VALUE)
    assert run(inserter, split(body, cuts)) == whole
    assert inserter.placed and inserter.reason is None
    # The app's own value wins where it already has the field (the last duplicate).
    assert json.loads(whole) == {field: LISTED, **obj}
    # Nothing but the member is added, and only once.
    member = json.dumps(field).encode() + b":" + VALUE
    at = whole.index(member)
    rest = whole[at + len(member) :]
    assert whole[:at] + (rest[1:] if obj else rest) == body


def test_member_goes_after_the_opening_brace_and_its_whitespace() -> None:
    body = b'{\n  "story": "text",\n  "id": 7\n}'
    assert run(JsonInserter("notices", b"[]"), [body]) == b'{\n  "notices":[],"story": "text",\n  "id": 7\n}'


@pytest.mark.parametrize("body", [b"{}", b"{ }", b" {\n}\n", b"\xef\xbb\xbf{}"])
def test_an_empty_object_gets_no_comma(body: bytes) -> None:
    out = run(JsonInserter("notices", b"[]"), [body])
    assert b"," not in out
    assert json.loads(out) == {"notices": []}


def test_the_field_name_is_escaped() -> None:
    out = run(JsonInserter('a"b\\c\n', b"[]"), [b'{"x":1}'])
    assert json.loads(out) == {'a"b\\c\n': [], "x": 1}


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b'[{"a": 1}]', "not a JSON object"),
        (b"  42", "not a JSON object"),
        (b'"text"', "not a JSON object"),
        (b"null", "not a JSON object"),
        (b"<html></html>", "not a JSON object"),
        (b"", "empty body"),
        (b" \n\t ", "empty body"),
        (b"\xef\xbb", "not a JSON object (not UTF-8)"),
        (b"\xef\xbb{}", "not a JSON object (not UTF-8)"),
        ("{}".encode("utf-16"), NOT_UTF8),
        ('{"a": 1}'.encode("utf-16-le"), NOT_UTF8),
        ('{"a": 1}'.encode("utf-16-be"), NOT_UTF8),
        ('{"a": 1}'.encode("utf-32-le"), NOT_UTF8),
        ('{"a": 1}'.encode("utf-32"), NOT_UTF8),
        (b"{  ", "the JSON object is cut short"),
    ],
)
def test_a_body_that_is_not_an_object_passes_untouched(body: bytes, reason: str) -> None:
    for cuts in ([], [1], [1, 2, 3]):
        inserter = JsonInserter("notices", VALUE)
        assert run(inserter, split(body, cuts)) == body
        assert not inserter.placed
        assert inserter.reason == reason


def test_chunks_after_the_insertion_pass_as_they_are() -> None:
    inserter = JsonInserter("notices", VALUE)
    assert inserter.feed(b"  ") == b"  "
    assert inserter.feed(b'{"a"') == b"{" + b'"notices":' + VALUE + b',"a"'
    later = b':"' + b"x" * 10_000 + b'"}'
    assert inserter.feed(later) is later
    assert inserter.close() == b""


def test_chunks_after_giving_up_pass_as_they_are() -> None:
    inserter = JsonInserter("notices", VALUE)
    assert inserter.feed(b"[1,") == b"[1,"
    later = b"2]"
    assert inserter.feed(later) is later


def test_memoryview_chunks_are_read() -> None:
    out = run(JsonInserter("notices", b"[]"), [memoryview(b' {"a"'), memoryview(b":1}")])  # type: ignore[list-item]
    assert json.loads(out) == {"notices": [], "a": 1}


def test_notices_json_lists_each_notice_with_its_text_and_link() -> None:
    value = notices_json([(WARNING, "en"), (PLAIN, "en")])
    assert value.isascii()
    assert json.loads(value) == [
        {
            "id": "warning",
            "language": "en",
            "text": "Readers here: take care.\n\nSecond paragraph, wrapped.",
            "link": {"href": "https://example.org/why", "text": "Why?"},
        },
        {"id": "imprint", "language": "en", "text": "Published by Northwind News.", "link": None},
    ]


def test_notices_json_in_another_language_is_escaped_ascii() -> None:
    value = notices_json([(WARNING, "ru")])
    assert b"\\u0427" in value
    assert json.loads(value)[0]["text"] == "Читатели здесь: будьте осторожны."
    assert json.loads(value)[0]["link"]["text"] == "Почему?"


def test_notices_json_of_nothing_is_an_empty_list() -> None:
    assert notices_json([]) == b"[]"


def test_a_script_link_is_left_out() -> None:
    hostile = Notice(
        id="x",
        title="X",
        text={"en": "Text"},
        default_language="en",
        link=Link(" JavaScript:alert(1)", {"en": "Click"}),
    )
    assert notice_item(hostile, "en")["link"] is None


def test_hostile_text_stays_a_json_string() -> None:
    hostile = Notice(id="x", title="X", text={"en": '"]}\u2028</script><b>'}, default_language="en")
    value = notices_json([(hostile, "en")])
    assert b"\xe2\x80\xa8" not in value
    out = run(JsonInserter("notices", value), [b'{"a":1}'])
    assert json.loads(out)["notices"][0]["text"] == '"]}\u2028</script><b>'
