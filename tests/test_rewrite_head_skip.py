"""Pages whose first bytes hold a `<plaintext>` or `<frameset>` that is, or is not, a tag; and the
head skipped for selector places: the same output and places whatever the chunking."""

from __future__ import annotations

import pytest

from compliance.respond.html import HtmlRewriter, Insertion, Placed
from compliance.rules.model import Place

BODY_END = Place("body-end")


def _feed(
    page: bytes, insertions: list[Insertion], head: bytes, cuts: list[int]
) -> tuple[bytes, list[Placed], str | None]:
    rewriter = HtmlRewriter(insertions, head)
    out = []
    previous = 0
    for cut in [*cuts, len(page)]:
        out.append(rewriter.feed(page[previous:cut]))
        previous = cut
    out.append(rewriter.close())
    return b"".join(out), rewriter.placed, rewriter.reason


@pytest.mark.parametrize("head", [b"", b"<style>S</style>"])
@pytest.mark.parametrize(
    ("page", "shown"),
    [
        # `</` then a byte that is not a letter opens a bogus comment, up to the first `>`: the
        # `<plaintext` inside it is no element (WHATWG tokenizer, "end tag open state").
        (b"</<plaintext>", True),
        (b"</<plaintext><p>x</p>", True),
        (b"<p>a</<plaintext>b</p></body>", True),
        (b"</ <plaintext>", True),
        (b"<?x<plaintext>", True),
        (b"<!x<plaintext>", True),
        (b"<a title='<plaintext>'>x", True),
        (b"</<p><plaintext>", False),  # the bogus comment ends at the `>` of `<p>`
        (b"<plaintext>", False),
    ],
)
def test_every_split_gives_the_whole_page_answer_about_plaintext(page: bytes, shown: bool, head: bytes) -> None:
    insertions = [Insertion("n", (BODY_END,), b"[n]")]
    whole = HtmlRewriter(insertions, head)
    out = whole.feed(page, last=True)
    expected = (out, whole.placed, whole.reason)
    assert (b"[n]" in out) is shown
    assert (whole.reason is None) is shown
    assert _feed(page, insertions, head, []) == expected
    assert _feed(page, insertions, head, list(range(1, len(page)))) == expected  # a byte at a time
    for cut in range(len(page) + 1):
        assert _feed(page, insertions, head, [cut]) == expected, cut
