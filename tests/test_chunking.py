"""However the app splits a page into body messages, readers get the same bytes."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from compliance import ComplianceMiddleware
from tests.conftest import US_IP, chunked_app, http_scope, rule_file, run_asgi

FRAGMENTS = [
    b"<!DOCTYPE html>",
    b"<html lang=ru>",
    b"<head>",
    b"<meta charset=utf-8>",
    b"<title>A </body> title</title>",
    b"<script>var s = '</body><!-- legal-notice -->';</script>",
    b"<style>body::after { content: '</head>' }</style>",
    b"</head>",
    b"<body class='x'>",
    b"<BODY>",
    b"<p>\xd0\x9d\xd0\xbe\xd0\xb2\xd0\xbe\xd1\x81\xd1\x82\xd0\xb8</p>",
    b"<!-- legal-notice -->",
    b"<!-- a comment with </body> inside -->",
    b"<textarea></body></textarea>",
    b"</body>",
    b"</html>",
    b"<!-- trailer -->",
    b"\n",
]

RULES = """
rules:
  - id: ru-warning
    notice: warning
    jurisdictions: [RU]
    placement: [{marker: legal-notice}, body-start, body-end]
"""


def _split(page: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(page) + 1) for c in cuts})
    pieces, last = [], 0
    for p in points:
        pieces.append(page[last:p])
        last = p
    pieces.append(page[last:])
    return pieces


@settings(max_examples=150, deadline=None)
@given(
    parts=st.lists(st.sampled_from(FRAGMENTS), min_size=1, max_size=25),
    cuts=st.lists(st.integers(min_value=0, max_value=10_000), max_size=12),
)
def test_the_result_does_not_depend_on_how_the_body_is_split(
    tmp_path_factory: object, parts: list[bytes], cuts: list[int]
) -> None:
    page = b"".join(parts)
    rules = rule_file(Path(str(tmp_path_factory.mktemp("r"))), RULES)  # type: ignore[attr-defined]
    whole = run_asgi(ComplianceMiddleware(chunked_app([page]), rules=rules), http_scope("/a")).body
    split = run_asgi(ComplianceMiddleware(chunked_app(_split(page, cuts)), rules=rules), http_scope("/a")).body
    assert split == whole
    assert whole.count(b'data-legal-notice="warning"') == 1


@settings(max_examples=60, deadline=None)
@given(
    parts=st.lists(st.sampled_from(FRAGMENTS), min_size=1, max_size=25),
    cuts=st.lists(st.integers(min_value=0, max_value=10_000), max_size=12),
)
def test_a_reader_with_no_notice_due_gets_the_bytes_the_app_sent(
    tmp_path_factory: object, parts: list[bytes], cuts: list[int]
) -> None:
    page = b"".join(parts)
    rules = rule_file(Path(str(tmp_path_factory.mktemp("r"))), RULES)  # type: ignore[attr-defined]
    app = ComplianceMiddleware(chunked_app(_split(page, cuts)), rules=rules)
    assert run_asgi(app, http_scope("/a", client=(US_IP, 1))).body == page
