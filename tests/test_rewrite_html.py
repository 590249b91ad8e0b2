from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import compliance.respond.html as html_module
import compliance.respond.html.anchors as anchors_module
import compliance.respond.html.rewriter as rewriter_module
import compliance.respond.html.scanner as scanner_module
import compliance.respond.html.search as search_module
import compliance.respond.matcher as matcher_module
from compliance.respond.html import HtmlRewriter, Insertion, Placed
from compliance.rules.model import Place

BODY_END = Place("body-end")
BODY_START = Place("body-start")
SELECTOR = Place("before", "div.story")


def marker(name: str) -> Place:
    return Place("marker", name)


def notice(key: str = "n", *places: Place) -> Insertion:
    return Insertion(key, places, f"[{key}]".encode())


def rewrite(
    page: bytes,
    insertions: list[Insertion],
    head: bytes = b"",
    *,
    holdback: int = html_module.DEFAULT_HOLDBACK,
    chunk: int | None = None,
) -> tuple[bytes, list[Placed]]:
    rewriter = HtmlRewriter(insertions, head, holdback)
    if chunk is None:
        out = rewriter.feed(page) + rewriter.close()
    else:
        out = b"".join(rewriter.feed(page[i : i + chunk]) for i in range(0, len(page), chunk)) + rewriter.close()
    return out, rewriter.placed


def rewrite_every_way(page: bytes, insertions: list[Insertion], head: bytes = b"", holdback: int = 1 << 18) -> bytes:
    """The output in one chunk, after checking that 1-byte chunks and every two-way split give the same."""
    out, placed = rewrite(page, insertions, head, holdback=holdback)
    assert rewrite(page, insertions, head, holdback=holdback, chunk=1) == (out, placed)
    for cut in range(len(page) + 1):
        rewriter = HtmlRewriter(insertions, head, holdback)
        assert rewriter.feed(page[:cut]) + rewriter.feed(page[cut:]) + rewriter.close() == out, cut
        assert rewriter.placed == placed
    one_call = HtmlRewriter(insertions, head, holdback)
    assert one_call.feed(page, last=True) == out
    assert one_call.placed == placed
    return out


# --- body-end -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("page", "expected"),
    [
        (b"<html><body><p>x</p></body></html>", b"<html><body><p>x</p>[n]</body></html>"),
        (b"<p>x</p></BODY>", b"<p>x</p>[n]</BODY>"),
        (b"<p>x</p></Body\n>", b"<p>x</p>[n]</Body\n>"),
        (b"<p>x</p></bOdY >", b"<p>x</p>[n]</bOdY >"),
        (
            b"<p>x</p></body></html>\n<!-- cached 2024-05-14 -->\n",
            b"<p>x</p>[n]</body></html>\n<!-- cached 2024-05-14 -->\n",
        ),
        (b"<p>a</p></body><p>b</p></body></html>", b"<p>a</p></body><p>b</p>[n]</body></html>"),
        (b"<p>no end tag", b"<p>no end tag[n]"),
        (b"", b"[n]"),
        (b"<p>x</p></bodyguard>", b"<p>x</p></bodyguard>[n]"),
        (
            b"<p>x</p></body",
            b"<p>x</p></body",
        ),  # ends inside a tag: left out  # an end tag cut off by the end of the document
        # `</body>` in a comment, script, style, textarea or title after the real one
        (b"<p>x</p></body></html><!-- </body> -->", b"<p>x</p>[n]</body></html><!-- </body> -->"),
        (
            b"<p>x</p></body><script>document.write('</body>')</script>",
            b"<p>x</p>[n]</body><script>document.write('</body>')</script>",
        ),
        (b"<p>x</p></body><STYLE>/* </body> */</STYLE>", b"<p>x</p>[n]</body><STYLE>/* </body> */</STYLE>"),
        (b"<p>x</p></body><textarea></body></textarea>", b"<p>x</p>[n]</body><textarea></body></textarea>"),
        (b"<p>x</p></body><title></body></title>", b"<p>x</p>[n]</body><title></body></title>"),
        # ... and before it: nothing to judge, the last one is real
        (
            b"<script>var s = '</body>';</script><!-- </body> --><p>x</p></body>",
            b"<script>var s = '</body>';</script><!-- </body> --><p>x</p>[n]</body>",
        ),
        # only fakes: the end of the document
        (b"<p>x</p><!-- </body> -->", b"<p>x</p><!-- </body> -->[n]"),
        (b"<script>'</body>'</script>", b"<script>'</body>'</script>[n]"),
    ],
)
def test_body_end(page: bytes, expected: bytes) -> None:
    assert rewrite_every_way(page, [notice("n")]) == expected


def test_body_end_the_documented_blind_spot() -> None:
    # A comment holding `</body>` and then `<!--` looks balanced from the tail alone.
    page = b"<p>x</p></body><!-- </body> <!-- -->"
    assert rewrite_every_way(page, [notice("n")]) == b"<p>x</p></body><!-- [n]</body> <!-- -->"


def test_body_end_fake_too_far_after_the_real_one_goes_to_the_end(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(search_module, "FALLBACK_WINDOW", 16)
    near = b"<p>x</p></body><!-- ab </body> -->"
    assert rewrite_every_way(near, [notice("n")]) == b"<p>x</p>[n]</body><!-- ab </body> -->"
    far = b"<p>x</p></body><!-- abcdefghijklmnop </body> -->"
    assert rewrite_every_way(far, [notice("n")]) == far + b"[n]"


def test_body_end_further_than_the_holdback_from_the_end_goes_to_the_end() -> None:
    page = b"<p>x</p></body></html>" + b"<!-- trailer -->" * 4
    distance = len(page) - page.index(b"</body>")
    expected = b"<p>x</p>[n]</body></html>" + b"<!-- trailer -->" * 4
    assert rewrite_every_way(page, [notice("n")], holdback=distance) == expected
    assert rewrite_every_way(page, [notice("n")], holdback=distance - 1) == page + b"[n]"


def test_body_end_lowercase_search_misses_nothing_far_from_the_end(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(anchors_module, "TAIL_WINDOW", 16)
    monkeypatch.setattr(rewriter_module, "TAIL_WINDOW", 16)
    page = b"<p>x</p></BODY></html>" + b"<!-- a long trailer -->" * 3
    assert rewrite(page, [notice("n")])[0] == b"<p>x</p>[n]</BODY></html>" + b"<!-- a long trailer -->" * 3


# --- body-start ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("page", "expected"),
    [
        (b"<html><body><p>x</p></body>", b"<html><body>[n]<p>x</p></body>"),
        (b'<Body class="article" id=main>text', b'<Body class="article" id=main>[n]text'),
        (b"<BODY data-x=\"a>b\" data-y='c>d'>text", b"<BODY data-x=\"a>b\" data-y='c>d'>[n]text"),
        (b"<body\nclass=x\n/>text", b"<body\nclass=x\n/>[n]text"),
        (b'<body a=b"c>text', b'<body a=b"c>[n]text'),  # a quote inside an unquoted value
        (b'<body ="a>text">', b'<body ="a>[n]text">'),  # `=` starting a name opens no value
        (b"<!-- <body> --><body class=real>x", b"<!-- <body> --><body class=real>[n]x"),
        (b"<script>'<body>'</script><body>x", b"<script>'<body>'</script><body>[n]x"),
        (b"<title><body></title><body>x", b"<title><body></title><body>[n]x"),
        (b"<textarea><body></textarea><body>x", b"<textarea><body></textarea><body>[n]x"),
        (b"<body><body class=second>x", b"<body>[n]<body class=second>x"),
        (b"<bodyx><body>x", b"<bodyx><body>[n]x"),
        (b"<p>no body tag</p></body>", b"<p>no body tag</p>[n]</body>"),  # body-end is the last resort
        (b"<p>x<body", b"<p>x<body"),  # a tag cut off by the end of the document: left out
    ],
)
def test_body_start(page: bytes, expected: bytes) -> None:
    assert rewrite_every_way(page, [notice("n", BODY_START)]) == expected


def test_body_start_placed_records() -> None:
    _, placed = rewrite(b"<body>x</body>", [notice("a", BODY_START), notice("b", SELECTOR, BODY_START)])
    assert placed == [Placed("a", BODY_START, False), Placed("b", BODY_START, True)]


# --- markers ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("page", "expected"),
    [
        (b"<body><p>a</p><!-- legal --><p>b</p></body>", b"<body><p>a</p>[n]<p>b</p></body>"),
        (b"<body><!--legal--></body>", b"<body>[n]</body>"),
        (b"<body><!--  legal\n\t--></body>", b"<body>[n]</body>"),
        (b"<body><!-- legal --><!-- legal --></body>", b"<body>[n]<!-- legal --></body>"),
        (b"<body><!-- legal2 --><!-- legal --></body>", b"<body><!-- legal2 -->[n]</body>"),
        (b"<body><!-- Legal --></body>", b"<body><!-- Legal -->[n]</body>"),  # names are exact
        # never inside other constructs
        (b"<body><script>'<!-- legal -->'</script></body>", b"<body><script>'<!-- legal -->'</script>[n]</body>"),
        (b"<body><!-- <!-- legal --> --></body>", b"<body><!-- <!-- legal --> -->[n]</body>"),
        (b"<title><!-- legal --></title><body></body>", b"<title><!-- legal --></title><body>[n]</body>"),
        (
            b"<body><textarea><!-- legal --></textarea></body>",
            b"<body><textarea><!-- legal --></textarea>[n]</body>",
        ),
        (b"<body><style><!-- legal --></style></body>", b"<body><style><!-- legal --></style>[n]</body>"),
        # anywhere in the document, even after </body>
        (b"<body></body><!-- legal -->", b"<body></body>[n]"),
        # inside a tag or an attribute value it is text, not a comment
        (
            b'<body><div title="<!-- legal --><img src=x onerror=alert(1)>">x</div></body>',
            b'<body><div title="<!-- legal --><img src=x onerror=alert(1)>">x</div>[n]</body>',
        ),
        (b"<body><a title='<!-- legal -->'>x</a></body>", b"<body><a title='<!-- legal -->'>x</a>[n]</body>"),
        (b"<body><p x <!-- legal -->>y</p></body>", b"<body><p x <!-- legal -->>y</p>[n]</body>"),
    ],
)
def test_marker(page: bytes, expected: bytes) -> None:
    assert rewrite_every_way(page, [notice("n", marker("legal"))]) == expected


def test_marker_longer_than_the_limit_is_not_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(scanner_module, "MAX_MARKER_COMMENT", 20)
    assert rewrite_every_way(b"<body><!--   legal  --></body>", [notice("n", marker("legal"))]) == b"<body>[n]</body>"
    page = b"<body><!--     legal     --></body>"  # 22 bytes
    assert rewrite_every_way(page, [notice("n", marker("legal"))]) == b"<body><!--     legal     -->[n]</body>"


@pytest.mark.parametrize("name", ["", "a<b", "a>b", "a--b"])
def test_marker_names_that_cannot_be_comments_never_match(name: str) -> None:
    page = f"<body><!-- {name} --></body>".encode()
    assert rewrite(page, [notice("n", marker(name))])[0] == page.replace(b"</body>", b"[n]</body>")


# A page in one piece that never names a marker is not read for it (one search for the name);
# in parts it is read. Whatever the page, both give the same bytes and the same records.
MARKER_FRAGMENTS = [
    b"<!DOCTYPE html><html><head><title>A </body> title</title>",
    b"<script>var s = '</body><!-- legal -->';</script>",
    b"<style>b::after { content: '<!-- legal -->' }</style></head>",
    b"<body class='x'>",
    b"<p>text</p>",
    b"<!-- legal -->",
    b"<!--legal-->",
    b"<!-- legalese -->",
    b"<!-- a comment with </body> inside -->",
    b"<textarea><!-- legal --></textarea>",
    b"<div title='<!-- legal -->'>x</div>",
    b"<plaintext>",
    b"</body>",
    b"</html>",
]


@settings(max_examples=300, deadline=None)
@given(
    parts=st.lists(st.sampled_from(MARKER_FRAGMENTS), max_size=16),
    cuts=st.lists(st.integers(min_value=0, max_value=2_000), min_size=1, max_size=6),
    fallback=st.booleans(),
    style=st.sampled_from([b"", b"<style>.n{}</style>"]),
)
def test_a_marker_in_a_page_in_one_piece_is_where_the_scanner_finds_it(
    parts: list[bytes], cuts: list[int], fallback: bool, style: bytes
) -> None:
    page = b"".join(parts)
    insertions = [Insertion("n", (marker("legal"),), b"[n]", fallback=fallback)]
    whole = HtmlRewriter(insertions, style)
    expected = (whole.feed(page, last=True), whole.placed)
    pieces = HtmlRewriter(insertions, style)
    points = sorted({0, len(page), *(c % (len(page) + 1) for c in cuts)})
    out = b"".join(pieces.feed(page[a:b]) for a, b in zip(points, points[1:], strict=False)) + pieces.close()
    assert (out, pieces.placed) == expected


# --- preferences and hold-back ------------------------------------------------------------------

PREFERENCE_PAGE = b"<html><body class=x><p>one</p><p>two</p><!-- legal --><p>three</p></body></html>"


def test_preference_waits_for_a_marker_after_body_start() -> None:
    insertions = [notice("n", marker("legal"), BODY_START)]
    out = rewrite_every_way(PREFERENCE_PAGE, insertions)
    assert out == b"<html><body class=x><p>one</p><p>two</p>[n]<p>three</p></body></html>"
    rewriter = HtmlRewriter(insertions)
    first = rewriter.feed(PREFERENCE_PAGE[:30])
    assert first == b"<html><body class=x>"  # held from body-start until the marker is found or ruled out
    assert rewriter.placed == []
    rest = rewriter.feed(PREFERENCE_PAGE[30:]) + rewriter.close()
    assert first + rest == out
    assert rewriter.placed == [Placed("n", marker("legal"), False)]


def test_preference_missing_marker_falls_back_to_body_start() -> None:
    page = PREFERENCE_PAGE.replace(b"<!-- legal -->", b"")
    out, placed = rewrite(page, [notice("n", marker("legal"), BODY_START)])
    assert out == b"<html><body class=x>[n]<p>one</p><p>two</p><p>three</p></body></html>"
    assert placed == [Placed("n", BODY_START, True)]
    assert rewrite_every_way(page, [notice("n", marker("legal"), BODY_START)]) == out


def test_preference_missing_marker_falls_back_to_body_end() -> None:
    page = PREFERENCE_PAGE.replace(b"<!-- legal -->", b"")
    out, placed = rewrite(page, [notice("n", marker("legal"))])
    assert out == b"<html><body class=x><p>one</p><p>two</p><p>three</p>[n]</body></html>"
    assert placed == [Placed("n", BODY_END, True)]


def test_preference_first_found_first_preference_does_not_wait() -> None:
    insertions = [notice("n", BODY_START, marker("legal"))]
    rewriter = HtmlRewriter(insertions)
    assert rewriter.feed(PREFERENCE_PAGE[:30]) == PREFERENCE_PAGE[:20] + b"[n]" + PREFERENCE_PAGE[20:30]
    assert rewriter.placed == [Placed("n", BODY_START, False)]


def test_preference_holdback_exceeded_takes_the_best_place_so_far() -> None:
    insertions = [notice("n", marker("legal"), BODY_START)]
    gap = PREFERENCE_PAGE.index(b"-->") + 3 - PREFERENCE_PAGE.index(b"<p>one")
    out = rewrite_every_way(PREFERENCE_PAGE, insertions, holdback=gap)
    assert out == b"<html><body class=x><p>one</p><p>two</p>[n]<p>three</p></body></html>"
    out = rewrite_every_way(PREFERENCE_PAGE, insertions, holdback=gap - 1)
    assert out == b"<html><body class=x>[n]<p>one</p><p>two</p><!-- legal --><p>three</p></body></html>"
    assert rewrite(PREFERENCE_PAGE, insertions, holdback=gap - 1)[1] == [Placed("n", BODY_START, True)]


def test_preference_body_end_first_makes_the_rest_unreachable() -> None:
    out, placed = rewrite(PREFERENCE_PAGE, [notice("n", BODY_END, marker("legal"))])
    assert out == b"<html><body class=x><p>one</p><p>two</p><!-- legal --><p>three</p>[n]</body></html>"
    assert placed == [Placed("n", BODY_END, False)]


def test_selector_place_is_found() -> None:
    out, placed = rewrite(b"<body><div class=story>x</div></body>", [notice("n", SELECTOR)])
    assert out == b"<body>[n]<div class=story>x</div></body>"
    assert placed == [Placed("n", SELECTOR, False)]


def test_end_of_document_is_recorded_without_a_place() -> None:
    assert rewrite(b"<p>x", [notice("a"), notice("b", BODY_START)])[1] == [
        Placed("a", None, False),
        Placed("b", None, True),
    ]


# --- selector places ----------------------------------------------------------------------------

STORY = (
    b"<html><head><title>t</title></head><body><main id=content><article class=story>"
    b"<h1 class=x>Title</h1><p>one<p>two</article></main></body></html>"
)


def at(page: bytes, before: bytes, after: bytes = b"") -> bytes:
    """`page` with [n] inserted between the first `before` and what follows it (`after` checks that)."""
    index = page.index(before) + len(before)
    assert page[index:].startswith(after)
    return page[:index] + b"[n]" + page[index:]


@pytest.mark.parametrize(
    ("place", "expected"),
    [
        (Place("before", "article h1"), at(STORY, b"<article class=story>", b"<h1")),
        (Place("prepend", "article h1"), at(STORY, b"<h1 class=x>", b"Title")),
        (Place("append", "article h1"), at(STORY, b"Title", b"</h1>")),
        (Place("after", "article h1"), at(STORY, b"</h1>", b"<p>")),
        (Place("before", "main > article"), at(STORY, b"<main id=content>", b"<article")),
        (Place("after", "main > article"), at(STORY, b"</article>", b"</main>")),
        (Place("append", "main > article"), at(STORY, b"two", b"</article>")),
        (Place("prepend", "#content"), at(STORY, b"<main id=content>", b"<article")),
        (Place("after", ".story h1.x"), at(STORY, b"</h1>", b"<p>")),
        (Place("after", "h1[class=x]"), at(STORY, b"</h1>", b"<p>")),
        (Place("after", "h1[class='x']"), at(STORY, b"</h1>", b"<p>")),
        # `</p>` left out: a `p` ends at the next `<p>`, or where its parent ends
        (Place("after", "article p"), at(STORY, b"one", b"<p>two")),
        (Place("append", "p"), at(STORY, b"one", b"<p>two")),
        (Place("after", "main p"), at(STORY, b"one", b"<p>two")),
        (Place("before", "main > p"), at(STORY, b"</main>", b"</body>")),  # no match: body-end
        (Place("after", "title"), at(STORY, b"</main>", b"</body>")),  # no element in the head is a place
        (Place("prepend", "title"), at(STORY, b"</main>", b"</body>")),  # never inside raw text
    ],
)
def test_selector_places(place: Place, expected: bytes) -> None:
    assert rewrite_every_way(STORY, [notice("n", place)]) == expected


def test_selector_only_the_first_match_counts() -> None:
    page = b"<body><p class=a>1</p><div><p class=a>2</p></div><p class=a>3</p></body>"
    assert rewrite_every_way(page, [notice("n", Place("after", "p.a"))]) == at(page, b"1</p>")
    assert rewrite_every_way(page, [notice("n", Place("after", "div p.a"))]) == at(page, b"2</p>")
    assert rewrite_every_way(page, [notice("n", Place("before", "body > .a"))]) == at(page, b"<body>")


def test_selector_that_never_matches_falls_back_in_order() -> None:
    page = b"<html><body><p>x</p></body></html>"
    missing = Place("after", "article h1")
    out, placed = rewrite(page, [notice("n", missing, BODY_START)])
    assert out == at(page, b"<body>")
    assert placed == [Placed("n", BODY_START, True)]
    out, placed = rewrite(page, [notice("n", missing)])
    assert out == at(page, b"</p>")
    assert placed == [Placed("n", BODY_END, True)]
    assert rewrite(page, [notice("n", missing, Place("before", "p"))])[1] == [Placed("n", Place("before", "p"), True)]


def test_selector_preference_holds_output_until_the_element_ends() -> None:
    insertions = [notice("n", Place("after", "article h1"), BODY_START)]
    rewriter = HtmlRewriter(insertions)
    cut = STORY.index(b"Title")
    first = rewriter.feed(STORY[:cut])
    assert first == STORY[: STORY.index(b"<body>") + len(b"<body>")]  # held from body-start on
    assert rewriter.placed == []
    rest = rewriter.feed(STORY[cut:]) + rewriter.close()
    assert first + rest == at(STORY, b"</h1>")
    assert rewriter.placed == [Placed("n", Place("after", "article h1"), False)]


def test_selector_holdback_exceeded_takes_the_best_place_so_far() -> None:
    insertions = [notice("n", Place("after", "article h1"), BODY_START)]
    gap = STORY.index(b"</h1>") + len(b"</h1>") - STORY.index(b"<main")
    assert rewrite_every_way(STORY, insertions, holdback=gap) == at(STORY, b"</h1>")
    assert rewrite_every_way(STORY, insertions, holdback=gap - 1) == at(STORY, b"<body>")


def test_selector_place_that_is_not_of_the_subset_is_passed_over() -> None:
    page = b"<body><p>x</p></body>"
    for bad in ("p:first-child", "p, div", "*", "", "p >"):
        out, placed = rewrite(page, [notice("n", Place("before", bad), BODY_START)])
        assert out == at(page, b"<body>")
        assert placed == [Placed("n", BODY_START, True)]


def test_selector_notices_at_the_same_byte() -> None:
    page = b"<body><div><h1>t</h1><p>x</p></div></body>"
    insertions = [
        notice("before-p", Place("before", "p")),
        notice("append-div", Place("append", "div")),
        notice("after-h1", Place("after", "h1")),
        notice("prepend-div", Place("prepend", "div")),
        notice("before-h1", Place("before", "h1")),
        notice("after-p", Place("after", "p")),
        notice("end", BODY_END),
    ]
    assert rewrite_every_way(page, insertions) == (
        b"<body><div>[prepend-div][before-h1]<h1>t</h1>[after-h1][before-p]<p>x</p>[after-p][append-div]</div>"
        b"[end]</body>"
    )


def test_selector_scanner_goes_quiet_once_placed() -> None:
    page = stream_page(1024 * 1024).replace(b"<body>", b"<body><article><h1>t</h1>")
    rewriter = HtmlRewriter([notice("n", Place("after", "article h1"))])
    first = rewriter.feed(page[:65536])
    assert first == page[:65536].replace(b"</h1>", b"</h1>[n]")
    for i in range(65536, len(page), 65536):
        chunk = page[i : i + 65536]
        assert rewriter.feed(chunk) is chunk  # passed on as it came: nothing is searched any more
    assert rewriter.close() == b""


@pytest.mark.parametrize("selector", ["article h2", ".no-such-class", "main > article", "[data-none]"])
def test_streaming_selector_search_holds_little(selector: str) -> None:
    page = stream_page(2 * 1024 * 1024).replace(b"<body>", b"<body><main><div><article>")
    rewriter = HtmlRewriter([notice("n", Place("after", selector))])
    out = []
    most = 0
    for i in range(0, len(page), 65536):
        out.append(rewriter.feed(page[i : i + 65536]))
        if i + 65536 < len(page) - 100:
            most = max(most, rewriter.held)
    out.append(rewriter.close())
    assert most <= html_module.MAX_TAG + 64  # a compound without a type keeps one tag's length
    assert b"".join(out) == page.replace(b"</body>", b"[n]</body>")


def test_selector_matcher_gives_up_past_its_depth(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(matcher_module, "MAX_DEPTH", 4)
    deep = b"<body>" + b"<div>" * 4 + b"<div class=x>t</div>" + b"</div>" * 4 + b"</body>"
    out, placed = rewrite(deep, [notice("n", Place("after", "div div.x"), BODY_START)])
    assert placed == [Placed("n", BODY_START, True)]
    shallow = b"<body><div><div class=x>t</div></div></body>"
    assert rewrite(shallow, [notice("n", Place("after", "div div.x"))])[0] == at(shallow, b"t</div>")


# --- several notices ----------------------------------------------------------------------------


def test_notices_sharing_a_place_keep_the_given_order() -> None:
    insertions = [
        notice("c", marker("legal"), BODY_START),
        notice("a", BODY_START),
        notice("b", marker("legal")),
        notice("z"),
        notice("y", SELECTOR),
    ]
    page = b"<body><p>x</p><!-- legal --><p>y</p></body>"
    assert rewrite_every_way(page, insertions) == b"<body>[a]<p>x</p>[c][b]<p>y</p>[z][y]</body>"
    shared = [notice("b", marker("nope"), BODY_START), notice("a", BODY_START)]
    assert rewrite_every_way(page, shared) == b"<body>[b][a]<p>x</p><!-- legal --><p>y</p></body>"


def test_body_start_and_marker_at_the_same_position() -> None:
    insertions = [notice("m", marker("legal")), notice("s", BODY_START)]
    assert rewrite_every_way(b"<body><!-- legal --></body>", insertions) == b"<body>[s][m]</body>"


# --- the notices' style -------------------------------------------------------------------------

STYLE = b"<style>.n{}</style>"


@pytest.mark.parametrize(
    ("page", "insertions", "expected"),
    [
        (
            b"<html><head><title>t</title></head><body><p>x</p></body></html>",
            [notice("a"), notice("b", BODY_START)],
            b"<html><head><title>t</title><style>.n{}</style></head><body>[b]<p>x</p>[a]</body></html>",
        ),
        (  # no </head>: right before the first notice
            b"<html><body><p>x</p></body></html>",
            [notice("a"), notice("b", BODY_START)],
            b"<html><body><style>.n{}</style>[b]<p>x</p>[a]</body></html>",
        ),
        (  # a </head> after <body does not count
            b"<body><p>x</p></head></body>",
            [notice("a")],
            b"<body><p>x</p></head><style>.n{}</style>[a]</body>",
        ),
        (  # </head> in a script or comment does not count
            b"<head><script>'</head>'</script><!-- </head> --></HEAD><body></body>",
            [notice("a")],
            b"<head><script>'</head>'</script><!-- </head> --><style>.n{}</style></HEAD><body>[a]</body>",
        ),
        (  # the first notice comes before </head>: the style goes with it
            b"<head><!-- legal --></head><body></body>",
            [notice("a", marker("legal"))],
            b"<head><style>.n{}</style>[a]</head><body></body>",
        ),
        (  # no document structure at all
            b"just text",
            [notice("a")],
            b"just text<style>.n{}</style>[a]",
        ),
    ],
)
def test_style_goes_once(page: bytes, insertions: list[Insertion], expected: bytes) -> None:
    assert rewrite_every_way(page, insertions, STYLE) == expected


# --- leaving the page alone ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "page",
    [b"", b"<html><head></head><body><!-- legal --></body></html>", b"\x00\xff\xfe<<<>>>--!>", b"x" * 300_000],
)
def test_no_insertions_leave_the_page_byte_for_byte(page: bytes) -> None:
    rewriter = HtmlRewriter([], STYLE)
    head, rest = page[:100], page[100:]
    assert rewriter.feed(head) is head
    assert rewriter.feed(rest) is rest
    assert rewriter.close() == b""
    assert rewriter.placed == []


def test_input_types() -> None:
    page = b"<body><p>x</p></body>"
    for data in (page, bytearray(page), memoryview(page)):
        rewriter = HtmlRewriter([notice("n")])
        out = rewriter.feed(data) + rewriter.close()
        assert type(out) is bytes and out == b"<body><p>x</p>[n]</body>"


def test_close_twice_and_feed_after_close() -> None:
    rewriter = HtmlRewriter([notice("n")])
    assert rewriter.feed(b"<p>x</p>", last=True) == b"<p>x</p>[n]"
    assert rewriter.close() == b""
    with pytest.raises(RuntimeError):
        rewriter.feed(b"more")


@pytest.mark.parametrize(
    "page",
    [
        b"<!--",
        b"<!-- never closed </body> <body>",
        b"<script>never closed </body>",
        b"<body data-x='never closed>",
        b"<body",
        b"</body",
        b"<title>",
        b"\x00" * 50 + b"</body>" + b"\x00" * 50,
        bytes(range(256)) * 4,
    ],
)
def test_garbage_never_raises_and_keeps_every_byte(page: bytes) -> None:
    insertions = [notice("a", marker("legal"), BODY_START), notice("b")]
    out = rewrite_every_way(page, insertions, STYLE)
    assert out.replace(b"[a]", b"").replace(b"[b]", b"").replace(STYLE, b"") == page


# --- streaming: bounded memory, little held -----------------------------------------------------


def stream_page(size: int) -> bytes:
    paragraph = b'<p class="para">Lorem ipsum <a href="/x">dolor</a> sit amet, <b>consectetur</b>.</p>\n'
    return b"<html><head><title>t</title></head><body>" + paragraph * (size // len(paragraph)) + b"</body></html>\n"


def test_streaming_body_end_holds_only_a_few_bytes() -> None:
    page = stream_page(4 * 1024 * 1024)
    rewriter = HtmlRewriter([notice("n")])
    out = []
    most = 0
    for i in range(0, len(page), 65536):
        out.append(rewriter.feed(page[i : i + 65536]))
        if i + 65536 < len(page) - 100:
            most = max(most, rewriter.held)
    out.append(rewriter.close())
    assert most <= 6
    assert b"".join(out) == page.replace(b"</body>", b"[n]</body>")


def test_streaming_preference_holds_at_most_the_holdback() -> None:
    page = stream_page(2 * 1024 * 1024).replace(b"</body>", b"<!-- legal --></body>")
    rewriter = HtmlRewriter([notice("n", marker("legal"), BODY_START)], holdback=100_000)
    out = []
    most = 0
    for i in range(0, len(page), 65536):
        out.append(rewriter.feed(page[i : i + 65536]))
        most = max(most, rewriter.held)
    out.append(rewriter.close())
    assert 60_000 <= most <= 100_000 + 65536  # it waited, within the limit
    assert b"".join(out) == page.replace(b"<body>", b"<body>[n]")
    assert rewriter.placed == [Placed("n", BODY_START, True)]


def test_one_chunk_with_the_end_comes_out_in_one_piece() -> None:
    page = stream_page(100_000)
    rewriter = HtmlRewriter([notice("n")])
    assert rewriter.feed(page) == b""  # the end of the page is in this chunk: kept whole, not copied
    assert rewriter.close() == page.replace(b"</body>", b"[n]</body>")


# --- properties ---------------------------------------------------------------------------------

FRAGMENTS = [
    b"<html>", b"<html lang=en>", b"<head>", b"</head>", b"</HEAD >", b"<title>x</body>y</title>", b"<title>",
    b"<body>", b"<BODY class='a>b'>", b'<body data-x="a>b">', b"<Body\n>", b"</body>", b"</BODY>", b"</Body\n>",
    b"</bOdY>", b"</bodyx>", b"<!-- legal -->", b"<!--legal-->", b"<!-- other -->", b"<!--", b"-->", b"<!-->",
    b"<!-- </body> -->", b"<!-- <!-- legal --> -->", b"<!-- cached -->", b"<script>", b"</script>", b"<SCRIPT>",
    b"</SCRIPT >", b"<script>x='</body><body><!-- legal -->'</script>", b"<style>a{}</style>", b"<style>",
    b"</style>", b"<textarea></body></textarea>", b"<xmp>", b"</xmp>", b"<noscript>", b"</noscript>", b"<p>text</p>",
    b"hello ", b"\x00\xff", b"<", b"</", b"</b", b"<body", b"<!-", b"--", b">", b"'", b'"', b"=", b"</html>", b"\n",
]  # fmt: skip
PLACES = [BODY_END, BODY_START, marker("legal"), marker("other"), SELECTOR]
MARKER_COMMENT = re.compile(rb"<!--[\t\n\x0c\r ]*(?:legal|other)[\t\n\x0c\r ]*-->")

pages = st.lists(st.sampled_from(FRAGMENTS), max_size=40).map(b"".join)
insertion_lists = st.lists(st.lists(st.sampled_from(PLACES), max_size=3), max_size=3).map(
    lambda lists: [Insertion(f"k{i}", tuple(places), b"{%d}" % i) for i, places in enumerate(lists)]
)
holdbacks = st.sampled_from([1 << 18, 0, 8, 40])


def run_split(page: bytes, insertions: list[Insertion], head: bytes, holdback: int, cuts: list[int]) -> bytes:
    rewriter = HtmlRewriter(insertions, head, holdback)
    out = []
    previous = 0
    for cut in [*sorted(cuts), len(page)]:
        out.append(rewriter.feed(page[previous:cut]))
        previous = cut
    out.append(rewriter.close())
    return b"".join(out)


@settings(max_examples=200, deadline=None)
@given(
    page=pages,
    insertions=insertion_lists,
    head=st.sampled_from([b"", b"{S}"]),
    holdback=holdbacks,
    cuts=st.lists(st.integers(min_value=0, max_value=2000), max_size=8),
)
def test_property_output_does_not_depend_on_chunking(
    page: bytes, insertions: list[Insertion], head: bytes, holdback: int, cuts: list[int]
) -> None:
    whole = run_split(page, insertions, head, holdback, [])
    cuts = [min(cut, len(page)) for cut in cuts]
    assert run_split(page, insertions, head, holdback, cuts) == whole
    assert run_split(page, insertions, head, holdback, list(range(len(page)))) == whole


@settings(max_examples=200, deadline=None)
@given(page=pages, insertions=insertion_lists, head=st.sampled_from([b"", b"{S}"]), holdback=holdbacks)
def test_property_every_input_byte_is_kept_in_order(
    page: bytes, insertions: list[Insertion], head: bytes, holdback: int
) -> None:
    rewriter = HtmlRewriter(insertions, head, holdback)
    out = rewriter.feed(page) + rewriter.close()
    if not insertions:
        assert out == page
        return
    if rewriter.reason is not None:  # the page ends where a notice at its end would not render
        assert len(rewriter.placed) < len(insertions)
        return
    assert len(rewriter.placed) == len(insertions)
    assert out.count(b"{S}") == (1 if head else 0)
    stripped = out.replace(b"{S}", b"")
    for i in range(len(insertions)):
        assert stripped.count(b"{%d}" % i) == 1
        stripped = stripped.replace(b"{%d}" % i, b"")
    replaced = sum(1 for p in rewriter.placed if p.place is not None and p.place.kind == "marker")
    if stripped != page:  # only whole marker comments may have gone
        assert MARKER_COMMENT.sub(b"", stripped) == MARKER_COMMENT.sub(b"", page)
        assert 0 < len(MARKER_COMMENT.findall(page)) - len(MARKER_COMMENT.findall(stripped)) <= replaced


@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=300), insertions=insertion_lists, cuts=st.lists(st.integers(0, 300), max_size=5))
def test_property_arbitrary_bytes(data: bytes, insertions: list[Insertion], cuts: list[int]) -> None:
    whole = run_split(data, insertions, b"{S}", 1 << 18, [])
    assert run_split(data, insertions, b"{S}", 1 << 18, [min(c, len(data)) for c in cuts]) == whole


# Nested structures for selector places: elements the selectors name, end tags left out, fake tags
# in comments, scripts and attribute values, and pieces of tags.
SELECTOR_FRAGMENTS = [
    b"<html>", b"<body>", b"</body>", b"</html>", b"<main>", b"</main>", b"<main id=a>", b"<article>",
    b'<article class="story lead">', b"</article>", b"<ARTICLE CLASS=story>", b"<h1>", b'<h1 class="x">',
    b"<H1 Class='x y'>", b"</h1>", b"</H1 >", b"<h2>", b"</h2>", b"<p>", b"<p class=x>", b"</p>", b"<div>",
    b"<div id=a>", b'<div id="a" class=x>', b"</div>", b"<ul>", b"<li>", b"<li class=x>", b"</li>", b"</ul>",
    b"<table>", b"<tr>", b"<td>", b"<td class=x>", b"</td>", b"</tr>", b"</table>", b"<dl>", b"<dt>", b"<dd>",
    b"</dl>", b"<select>", b"<option>", b"</select>", b"<img src=x class=x>", b"<br/>", b"<svg><path/></svg>",
    b"<div/>", b"<!-- <h1 class=x> -->", b"<!--", b"-->", b"<script>'<h1 class=x><p>'</script>",
    b"<script>", b"</script>", b"<textarea><p class=x></textarea>", b"<title><h1></title>",
    b'<a title="<h1 class=x>">', b"<a title='x' class=x>", b"<b>", b"</b>", b"<section>", b"</section>",
    b"text", b"class=x", b"<", b"</", b"<h", b">", b'"', b"'", b"=", b"/", b" ", b"\n",
]  # fmt: skip
SELECTORS = [
    "article h1", "h1.x", ".x", "#a", "main > article", "div p", "li", "td.x", "[class]", "p", "article > p",
    "img", "dd", "option", "div .x", "main div", "ul > li.x", "[id=a]", "h2", "main > article > h1",
]  # fmt: skip
SELECTOR_PLACES = [Place(kind, s) for s in SELECTORS for kind in ("before", "after", "prepend", "append")]

selector_pages = st.lists(st.sampled_from(SELECTOR_FRAGMENTS), max_size=40).map(b"".join)
selector_insertion_lists = st.lists(
    st.lists(st.sampled_from(SELECTOR_PLACES + [BODY_START, BODY_END, marker("legal")]), min_size=1, max_size=3),
    min_size=1,
    max_size=3,
).map(lambda lists: [Insertion(f"k{i}", tuple(places), b"{%d}" % i) for i, places in enumerate(lists)])


@settings(max_examples=300, deadline=None)
@given(
    page=selector_pages,
    insertions=selector_insertion_lists,
    holdback=holdbacks,
    cuts=st.lists(st.integers(min_value=0, max_value=2000), max_size=8),
)
def test_property_selector_output_does_not_depend_on_chunking(
    page: bytes, insertions: list[Insertion], holdback: int, cuts: list[int]
) -> None:
    whole = run_split(page, insertions, b"", holdback, [])
    assert run_split(page, insertions, b"", holdback, [min(cut, len(page)) for cut in cuts]) == whole
    assert run_split(page, insertions, b"", holdback, list(range(len(page)))) == whole
    one_call = HtmlRewriter(insertions, b"", holdback)
    assert one_call.feed(page, last=True) == whole
    stripped = whole
    for i in range(len(insertions)):
        assert stripped.count(b"{%d}" % i) == (0 if one_call.reason and stripped.count(b"{%d}" % i) == 0 else 1)
        stripped = stripped.replace(b"{%d}" % i, b"")
    assert MARKER_COMMENT.sub(b"", stripped) == MARKER_COMMENT.sub(b"", page)


# Without pieces of tags: a comment or raw-text opener inside a tag's name (`<h<!--`) is read
# as one only when the scanner is not reading that tag.
whole_tag_pages = st.lists(
    st.sampled_from([f for f in SELECTOR_FRAGMENTS if f not in (b"<", b"</", b"<h")]), max_size=40
).map(b"".join)


@settings(max_examples=200, deadline=None)
@given(page=whole_tag_pages, insertions=selector_insertion_lists, cuts=st.lists(st.integers(0, 2000), max_size=4))
def test_property_reading_every_tag_changes_nothing(page: bytes, insertions: list[Insertion], cuts: list[int]) -> None:
    # The scanner's one regex finds only the tags selectors want; a page that asks for too many
    # regexes is read tag by tag instead. Both must see the same tags.
    sparse = run_split(page, insertions, b"", 1 << 18, [min(cut, len(page)) for cut in cuts])
    with pytest.MonkeyPatch.context() as patched:
        patched.setattr(search_module, "_PATTERNS_PER_PAGE", 0)
        every = run_split(page, insertions, b"", 1 << 18, [min(cut, len(page)) for cut in cuts])
    assert every == sparse


# --- script data states, and where a page ends ---------------------------------------------------

AD_SCRIPT = b"<script><!-- document.write('<script src=a.js></script><body><p class=x>') //--></script>"


@pytest.mark.parametrize(
    ("page", "place", "expected"),
    [
        (b"<html>" + AD_SCRIPT + b"<body>x", BODY_START, b"<html>" + AD_SCRIPT + b"<body>[n]x"),
        (
            b"<body>" + AD_SCRIPT + b"<p class=x>y</p>",
            Place("before", ".x"),
            b"<body>" + AD_SCRIPT + b"[n]<p class=x>y</p>",
        ),
        (b"<body>" + AD_SCRIPT + b"<p>y</p>", Place("before", "p"), b"<body>" + AD_SCRIPT + b"[n]<p>y</p>"),
        # `-->` goes back to plain script data: the next `</script>` ends the script
        (b"<script><!-- a --></script><body>x", BODY_START, b"<script><!-- a --></script><body>[n]x"),
        (b"<script><!--></script><body>x", BODY_START, b"<script><!--></script><body>[n]x"),
        # double escaped, then `-->`: back to script data, not the escaped state
        (
            b"<script><!--<script>--></script><body>x",
            BODY_START,
            b"<script><!--<script>--></script><body>[n]x",
        ),
    ],
)
def test_script_escaped_states(page: bytes, place: Place, expected: bytes) -> None:
    assert rewrite_every_way(page, [notice("n", place)]) == expected


def test_the_notices_style_never_lands_in_a_script() -> None:
    page = b"<head>" + AD_SCRIPT.replace(b"<body>", b"</head>") + b"</head><body>x</body>"
    out = rewrite_every_way(page, [notice("n", BODY_START)], b"{S}")
    assert out == page.replace(b"</head><body>", b"{S}</head><body>[n]")


@pytest.mark.parametrize(
    ("page", "why"),
    [
        (b"<body><p>x<script>var a = 1", "inside a <script>"),
        (b"<body><p>x<!-- a comment", "inside a comment"),
        (b"<body><p>x<a href='y", "inside a tag"),
        (b"<body><p>x<textarea>y", "inside a <textarea>"),
        (b"<html><frameset><frame src=a></frameset></html>", "frameset"),
        (b"<body><plaintext><p>x", "<plaintext>"),
        (b"<body>" + AD_SCRIPT[:-9], "inside a <script>"),
    ],
)
def test_a_notice_that_would_not_render_is_left_out_and_the_reason_given(page: bytes, why: str) -> None:
    for chunk in (None, 1, 7):
        rewriter = HtmlRewriter([notice("n")])
        if chunk is None:
            out = rewriter.feed(page, last=True)
        else:
            out = b"".join(rewriter.feed(page[i : i + chunk]) for i in range(0, len(page), chunk)) + rewriter.close()
        assert out == page
        assert rewriter.placed == []
        assert rewriter.reason is not None and why in rewriter.reason


@pytest.mark.parametrize(
    "places",
    [
        (Place("before", "p"),),
        (Place("after", "h1"),),
        (Place("append", "article"),),
        (marker("legal"),),
        (Place("before", "p"), marker("legal"), BODY_END),
    ],
)
@pytest.mark.parametrize(
    ("page", "why"),
    [
        # `<plaintext>` mid-page: its `</body>` and every later tag are text
        (b"<body><main><article><PlainText ><h1>T</h1><!-- legal --><p>x</p></article></main></body>", "<plaintext>"),
        (b"<head><plaintext></head><body><h1>T</h1><p>x</p></body>", "<plaintext>"),
        # a frameset the tree builder takes: the body after it is not shown
        (b"<head><title>F</title></head><frameset><frame></frameset><body><h1>T</h1><p>x</p></body>", "frameset"),
        (b"<head></head><div></div><frameset><frame></frameset><body><h1>T</h1><p>x</p></body>", "frameset"),
    ],
)  # fmt: skip
def test_no_place_after_plaintext_or_a_frameset_is_used(page: bytes, why: str, places: tuple[Place, ...]) -> None:
    for chunk in (None, 1, 7):
        rewriter = HtmlRewriter([notice("n", *places)], b"{S}")
        if chunk is None:
            out = rewriter.feed(page, last=True)
        else:
            out = b"".join(rewriter.feed(page[i : i + chunk]) for i in range(0, len(page), chunk)) + rewriter.close()
        assert b"[n]" not in out
        assert rewriter.placed == []
        assert rewriter.reason is not None and why in rewriter.reason, chunk


@pytest.mark.parametrize(
    "page",
    [
        b"<body><a title='<plaintext>'>a</a><h1>T</h1><p>x</p></body>",  # text in an attribute
        b"<body><script>'<plaintext>'</script><!-- <frameset> --><h1>T</h1><p>x</p></body>",
        b"<body>text<frameset><frame></frameset><h1>T</h1><p>x</p></body>",  # text makes the frameset ignored
        b"<body><frameset><frame></frameset><h1>T</h1><p>x</p></body>",  # and so does a <body> tag
        b"<head></head><img src=a><frameset></frameset><h1>T</h1><p>x</p>",  # and an <img>
    ],
)
def test_plaintext_and_framesets_that_change_nothing_leave_the_places(page: bytes) -> None:
    out = rewrite_every_way(page, [notice("n", Place("before", "p"))])
    assert out == page.replace(b"<p>", b"[n]<p>")


@pytest.mark.parametrize(
    "page",
    [
        b"<head><plaintext></head><body><p>x</p></body>",
        b"<head><title>F</title></head><frameset><frame></frameset><body><p>x</p></body>",
    ],
)
def test_no_body_start_after_plaintext_or_a_frameset(page: bytes) -> None:
    rewriter = HtmlRewriter([notice("n", BODY_START)])
    assert rewriter.feed(page, last=True) == page
    assert rewriter.reason is not None


def test_a_place_before_plaintext_is_still_used() -> None:
    page = b"<body><p>x</p><plaintext><p>y</p></body>"
    for places in ((Place("before", "p"),), (Place("append", "p"),), (Place("before", "plaintext"),)):
        out = rewrite_every_way(page, [notice("n", *places)])
        assert out.index(b"[n]") < out.index(b"<plaintext>")


def test_a_notice_placed_at_its_marker_is_not_said_missed_when_the_page_ends_inside_a_tag() -> None:
    # The notice replaced its marker, well before the unfinished tag at the end: nothing is left
    # out, so the rewriter gives no reason for leaving something out (with or without a <style>).
    for head in (b"", b"{S}"):
        rewriter = HtmlRewriter([Insertion("n0", (Place("marker", "legal"),), b"{0}")], head, 1 << 18)
        out = rewriter.feed(b"<!-- legal --></b") + rewriter.close()
        assert out.replace(b"{S}", b"") == b"{0}</b"
        assert rewriter.reason is None
        assert [p.place for p in rewriter.placed] == [Place("marker", "legal")]


@pytest.mark.parametrize("head", [b"", b"{S}"])
@pytest.mark.parametrize(
    ("page", "why"),
    [
        (b"<body><main><article><PlainText ><h1>T</h1><p>x</p></article></main></body></html>", "<plaintext>"),
        (b"<head><title>F</title></head><frameset><frame></frameset><body><p>x</p></body>", "frameset"),
        (b"<body><p>x</p><svg><plaintext>a</plaintext></svg></body>", None),  # an SVG element of that name
        (b"<body><script>'<plaintext>'</script><!-- <FRAMESET> --><p>x</p></body>", None),
    ],
)
def test_body_end_alone_reads_a_page_holding_plaintext_or_a_frameset_up_to_its_end(
    page: bytes, why: str | None, head: bytes
) -> None:
    out = rewrite_every_way(page, [notice("n", BODY_END)], head)
    rewriter = HtmlRewriter([notice("n", BODY_END)], head)
    assert rewriter.feed(page, last=True) == out
    if why is None:
        assert out.replace(b"{S}", b"") == page.replace(b"</body>", b"[n]</body>")
        assert rewriter.reason is None
    else:
        assert out.replace(b"{S}", b"") == page
        assert rewriter.placed == [] and rewriter.reason is not None and why in rewriter.reason


HEAD_FRAGMENTS = [
    *FRAGMENTS, b"<head>", b"</head>", b"</HEAD >", b"</head", b"<BODY class=x>", b"<title>", b"</title>",
    b"<plaintext>", b"<frameset>", b"<meta content='</head>'>", b"<script><!--<script></script>--></script>",
    b"<template>", b"</template>", b"<iframe>", b"</iframe>", b"\xef\xbb\xbf", b"<html>", b"</br>",
]  # fmt: skip
styled_pages = st.lists(st.sampled_from(HEAD_FRAGMENTS), max_size=30).map(b"".join)
body_end_lists = st.integers(min_value=1, max_value=3).map(
    lambda count: [Insertion(f"k{i}", (BODY_END,), b"{%d}" % i) for i in range(count)]
)


@settings(max_examples=500, deadline=None)
@given(page=styled_pages, insertions=body_end_lists, holdback=holdbacks)
def test_property_a_styled_page_in_one_piece_reads_its_head_as_the_scanner_does(
    page: bytes, insertions: list[Insertion], holdback: int
) -> None:
    """The style before `</head>` and body-end notices: a page in one piece (read by `head_end`) comes out
    as the same page fed without saying it is the last piece (read by the forward scanner), with the
    same places and reason."""
    streamed = HtmlRewriter(insertions, b"{S}", holdback)
    out = streamed.feed(page) + streamed.close()
    whole = HtmlRewriter(insertions, b"{S}", holdback)
    assert whole.feed(page, last=True) == out
    assert (whole.placed, whole.reason) == (streamed.placed, streamed.reason)


def test_a_styled_page_in_one_piece_gets_its_style_before_the_real_head_end() -> None:
    page = (
        b"<html><head><script>document.write('</head><body>')</script><!-- </head> -->"
        b"<style>p{}</style></head><body><p>x</p></body></html>"
    )
    rewriter = HtmlRewriter([Insertion("k0", (BODY_END,), b"{0}")], b"{S}")
    out = rewriter.feed(page, last=True)
    assert out == page.replace(b"</style></head>", b"</style>{S}</head>").replace(b"</body>", b"{0}</body>")
    assert [str(p.place) for p in rewriter.placed] == ["body-end"]
