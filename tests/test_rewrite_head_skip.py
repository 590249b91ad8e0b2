"""Pages whose first bytes hold a `<plaintext>` or `<frameset>` that is, or is not, a tag; and the
head skipped for selector places: the same output and places whatever the chunking."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import compliance.respond.html.scanner as scanner_module
from compliance.respond.html import HtmlRewriter, Insertion, Placed
from compliance.respond.html.headend import simple_head
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


# --- a simple head, jumped over --------------------------------------------------------------------

HEAD_PIECES = [
    b"<!DOCTYPE html>", b"<!doctype html>", b"\n", b"  ", b"<html>", b'<html lang="en" class="no-js">', b"<head>",
    b"<HEAD>", b"</head>", b"</head >", b'<meta charset="utf-8">', b"<meta name=x content='a b'/>",
    b'<link rel="stylesheet" href="/a.css">', b"<link rel=preload crossorigin>", b"<base href=/>", b"<basefont>",
    b"<title>T</title>", b"<TITLE>T</TITLE>", b"<title><p class=x></title>", b"<!-- critical CSS -->",
    b"<!-- legal -->", b"<!-- other -->", b"<!---->", b"<!-->", b"<style>p{}</style>", b"<style>a<b</style>",
    b"<script>a=1</script>", b"<script async src='/m.js'></script>", b"<script>'</body><p class=x>'</script>",
    b"<script>if(a<b)c()</script>", b"<script><!--<script></script>--></script>", b"<script>x</span></script>",
    b"<noscript><p class=x></noscript>", b"<template><h1>t</h1></template>", b"<meta content='<!--'>",
    b'<meta content="<h1 class=x>">', b"<? <article> ?>", b"<!x <h1>>", b"</<p>", b"<div>", b"text", b"<plaintext>",
    b"<frameset>", b"<svg>", b"<article>", b"<h1 class=x>", b"<p>", b"\xef\xbb\xbf", b"<", b"<body", b"<body>",
]  # fmt: skip
BODY_PIECES = [
    b"<body>", b"<body class=a>", b'<BODY data-x="a>b">', b"<body", b"<main>", b"<article>", b"<article class=x>",
    b"</article>", b"<h1>", b"<h1 class=x>", b"</h1>", b"<p>", b"<p class=x>", b"</p>", b"<div id=a>", b"</div>",
    b"<!-- legal -->", b"<!-- other -->", b"<script>'<h1>'</script>", b"<svg><h1/></svg>", b"text", b"</body>",
    b"</html>", b"<", b">", b'"', b"'", b"\n",
]  # fmt: skip
JUMP_PLACES = [
    *(Place(kind, s) for s in ("article h1", "h1.x", "p", ".x", "#a", "main > article", "script", "title", "meta",
                               "div p", "h1") for kind in ("before", "after", "prepend", "append")),
    Place("body-start"), Place("marker", "legal"), Place("marker", "other"), BODY_END,
]  # fmt: skip

head_pages = st.tuples(
    st.lists(st.sampled_from(HEAD_PIECES), max_size=12),
    st.lists(st.sampled_from(BODY_PIECES), max_size=14),
).map(lambda parts: b"".join(parts[0]) + b"".join(parts[1]))
jump_insertions = st.lists(st.lists(st.sampled_from(JUMP_PLACES), min_size=1, max_size=3), min_size=1, max_size=3).map(
    lambda lists: [Insertion(f"k{i}", tuple(places), b"{%d}" % i) for i, places in enumerate(lists)]
)


def _every_way(page: bytes, insertions: list[Insertion], head: bytes, cuts: list[int]) -> list[object]:
    one_call = HtmlRewriter(insertions, head)
    out = one_call.feed(page, last=True)
    return [
        (out, one_call.placed, one_call.reason),
        _feed(page, insertions, head, []),
        _feed(page, insertions, head, sorted(min(cut, len(page)) for cut in cuts)),
    ]


@settings(max_examples=400, deadline=None)
@given(
    page=head_pages,
    insertions=jump_insertions,
    head=st.sampled_from([b"", b"{S}"]),
    cuts=st.lists(st.integers(min_value=0, max_value=600), max_size=4),
)
def test_property_a_simple_head_jumped_over_changes_nothing(
    page: bytes, insertions: list[Insertion], head: bytes, cuts: list[int]
) -> None:
    """Jumping over a simple head to its `<body>` gives the output, places and reason of reading it
    token by token, in one piece or in chunks."""
    jumped = _every_way(page, insertions, head, cuts)
    with pytest.MonkeyPatch.context() as patched:
        patched.setattr(scanner_module, "_jump_head", False)
        read = _every_way(page, insertions, head, cuts)
    assert jumped == read


def test_the_benchmark_head_is_jumped_over_and_a_head_element_is_still_no_place() -> None:
    head = (
        b'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<title>T</title>\n'
        b"<!-- critical CSS -->\n<style>p{}</style>\n<script>if (a < b) { log('</body>'); }</script>\n</head>\n"
    )
    assert simple_head(head + b"<body>", len(head) + 6, frozenset()) == (len(head), head.index(b"</script>"))
    page = head + b"<body><article><h1>T</h1><p>x</p></article></body>"
    for place, expected in (
        (Place("after", "article h1"), b"<h1>T</h1>[n]"),
        (Place("before", "title"), b"<p>x</p></article>[n]</body>"),  # the head's title is no place
    ):
        rewriter = HtmlRewriter([Insertion("n", (place, BODY_END), b"[n]")])
        out = rewriter.feed(page, last=True)
        assert expected in out
        assert out.replace(b"[n]", b"") == page


@pytest.mark.parametrize(
    "head",
    [
        b"<head><div></head>",  # begins the body
        b"<head>text</head>",  # begins the body
        b"<head><meta content='<!--'></head>",  # the scanner would see a comment inside
        b"<head><script><!-- x --></script></head>",  # script states: read token by token
        b"<head><noscript><p></noscript></head>",
        b"<head><title>a<b</title></head>",
        b"<head><!-- a - b --></head>",
        b"<head><? x ?></head>",
        b"<head><plaintext></head>",
        b"<head><!-- legal --></head>",  # a marker wanted
    ],
)
def test_a_head_that_is_not_simple_is_read_token_by_token(head: bytes) -> None:
    page = head + b"<body><div><p>x</p></div>"
    assert simple_head(page, len(page), frozenset({b"legal"})) is None
    insertions = [Insertion("n", (Place("before", "div p"), Place("marker", "legal"), BODY_END), b"[n]")]
    jumped = _every_way(page, insertions, b"", [len(head) + 3])
    with pytest.MonkeyPatch.context() as patched:
        patched.setattr(scanner_module, "_jump_head", False)
        assert _every_way(page, insertions, b"", [len(head) + 3]) == jumped
