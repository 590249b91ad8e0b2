"""Selector places: the selector subset, and where in a page each place is."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from compliance.respond.html import HtmlRewriter, Insertion, Placed
from compliance.respond.matcher import parse_attributes
from compliance.rules.model import Place
from compliance.rules.selectors import Compound, check_selector, parse_selector

# --- the selector subset ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "compounds", "child"),
    [
        ("article", [Compound(b"article")], ()),
        ("ARTICLE", [Compound(b"article")], ()),
        ("#Main", [Compound(None, ids=(b"Main",))], ()),
        (".story-body", [Compound(None, classes=(b"story-body",))], ()),
        ("div.story-body", [Compound(b"div", classes=(b"story-body",))], ()),
        ("a[href].x", [Compound(b"a", classes=(b"x",), attributes=((b"href", None),))], ()),
        ("[DATA-X=Y]", [Compound(None, attributes=((b"data-x", b"Y"),))], ()),
        ("[data-x = 'a b']", [Compound(None, attributes=((b"data-x", b"a b"),))], ()),
        ('[data-x="]"]', [Compound(None, attributes=((b"data-x", b"]"),))], ()),
        ('[lang=""]', [Compound(None, attributes=((b"lang", b""),))], ()),
        (".été", [Compound(None, classes=("été".encode(),))], ()),
        (
            'iframe[src^="https://www.rt.com/"]',
            [Compound(b"iframe", operators=((b"src", "^", b"https://www.rt.com/"),))],
            (),
        ),
        ("[SRC$='.mp4'][x*=y]", [Compound(None, operators=((b"src", "$", b".mp4"), (b"x", "*", b"y")))], ()),
        ("[class~=ad][lang|=en]", [Compound(None, operators=((b"class", "~", b"ad"), (b"lang", "|", b"en")))], ()),
        ("article h1", [Compound(b"article"), Compound(b"h1")], (False,)),
        ("main > article", [Compound(b"main"), Compound(b"article")], (True,)),
        ("main>article  h1", [Compound(b"main"), Compound(b"article"), Compound(b"h1")], (True, False)),
        ("  main\t>\narticle ", [Compound(b"main"), Compound(b"article")], (True,)),
    ],
)
def test_parse(text: str, compounds: list[Compound], child: tuple[bool, ...]) -> None:
    selector = parse_selector(text)
    assert selector is not None
    assert list(selector.compounds) == compounds
    assert selector.child == child


@pytest.mark.parametrize(
    "text",
    [
        "", " ", "*", "p, div", "p:first-child", "p::before", "a + b", "a ~ b", "a >", "> a", "a > > b",
        "[href!=x]", "[href^=https://x]", "[href]x", "#1a", ".", "#", "[", "[]", "a[href=x y]", "ns|a", "a\\:b",
        "a\rb", "[x='a\\'b']",
    ],
)  # fmt: skip
def test_parse_rejects_what_the_loader_rejects(text: str) -> None:
    assert check_selector(text) is not None
    assert parse_selector(text) is None


SELECTOR_ALPHABET = st.sampled_from(
    list("aAhz1-_")
    + [" ", ">", ".", "#", "[", "]", "=", '"', "'", "*", ",", ":", "+", "~", "é", "\t", "\n", "\r", "\\"]
)


@settings(max_examples=500, deadline=None)
@given(text=st.lists(SELECTOR_ALPHABET, max_size=14).map("".join))
def test_property_parse_accepts_exactly_what_the_loader_accepts(text: str) -> None:
    assert (parse_selector(text) is not None) == (check_selector(text) is None)


@settings(max_examples=300, deadline=None)
@given(
    text=st.lists(
        st.sampled_from(["div", "p", ".x", "#a", "[href]", "[a=b]", "[a='b c']", " ", " > ", "h1", ".y-z"]),
        min_size=1,
        max_size=6,
    ).map("".join)
)
def test_property_parse_accepts_exactly_what_the_loader_accepts_for_selector_like_text(text: str) -> None:
    assert (parse_selector(text) is not None) == (check_selector(text) is None)


def test_attributes_as_the_tokenizer_reads_them() -> None:
    tag = b'<a HREF=\'/x\' class="a  b" data-x=1 hidden DATA-x=2 title=a"b =c>'
    attributes = parse_attributes(tag, 2, len(tag))
    assert attributes == {
        b"href": b"/x",
        b"class": b"a  b",
        b"data-x": b"1",
        b"hidden": b"",
        b"title": b'a"b',
        b"=c": b"",
    }


# --- where each place is ------------------------------------------------------------------------


def place(page: bytes, kind: str, selector: str) -> tuple[bytes, Placed | None]:
    """The page with [n] at the place, checked to be the same in one piece and in 1-byte chunks.

    None for where: the page ends where a notice would not render (the rewriter says why).
    """
    insertions = [Insertion("n", (Place(kind, selector),), b"[n]")]
    rewriter = HtmlRewriter(insertions)
    out = rewriter.feed(page) + rewriter.close()
    chunked = HtmlRewriter(insertions)
    assert b"".join(chunked.feed(page[i : i + 1]) for i in range(len(page))) + chunked.close() == out
    assert chunked.placed == rewriter.placed
    assert chunked.reason == rewriter.reason
    if not rewriter.placed:
        assert rewriter.reason is not None
        return out, None
    return out, rewriter.placed[0]


def marked(page: str) -> tuple[bytes, bytes]:
    """A page written with `|` where the notice goes: the page, and the page with [n] there."""
    assert page.count("|") == 1
    return page.replace("|", "").encode(), page.replace("|", "[n]").encode()


@pytest.mark.parametrize(
    ("kind", "selector", "page"),
    [
        # type, id, class, attributes, in any case where HTML ignores it
        ("before", "h1", "<body><p>x</p>|<H1>t</H1></body>"),
        ("after", "h1", "<body><p>x</p><H1 >t</h1 >|</body>"),
        ("prepend", "#Main", "<body><div id=main></div><div ID=Main>|x</div></body>"),
        ("append", ".lead", "<body><p class=leader>a</p><p class='x lead'>b|</p></body>"),
        ("before", "p.a.b", "<body><p class=a>1</p>|<p class='b\ta'>2</p></body>"),
        ("before", "[data-x]", "<body><p data-y>1</p>|<p DATA-X>2</p></body>"),
        ("before", "[data-x=Y]", "<body><p data-x=y>1</p>|<p data-x='Y'>2</p></body>"),
        ("before", "a[href].x", "<body><a class=x>1</a><a href=/ class=y>2</a>|<a class=x href=/>3</a></body>"),
        # combinators
        ("before", "article h1", "<body><h1>0</h1><article><div>|<h1>1</h1></div></article></body>"),
        ("before", "main > article", "<body><main><div><article>0</article></div>|<article>1</article></main></body>"),
        ("before", "main > p", "<body><main><div><p>0</p></div>|<p>1</p></main></body>"),
        ("before", "div > p", "<body><p>0</p><div>|<p>1<p>2</div></body>"),
        ("before", "ul > li.x", "<body><ol><li class=x>0</ol><ul><li>1<b class=x>2</b>|<li class=x>3</ul></body>"),
        ("before", "ul > li.x", "<body><ul><li>1<ul>|<li class=x>2</ul><li class=x>3</ul></body>"),
        ("before", "section .x", "<body><p class=x>0</p><section><div>|<b class=x>1</b></div></section></body>"),
        # void elements and `/>`
        ("after", "img", "<body><p><img src=a>|x</p></body>"),
        ("prepend", "br", "<body>a<br/>|b</body>"),
        ("append", "input.x", "<body><input class=x>|</body>"),
        # foreign content: SVG and MathML elements are no places; the svg and math elements are, from outside
        ("after", "svg path", "<body><svg><path d=a/><path/></svg>|</body>"),
        ("before", "svg", "<body><p>x</p>|<svg><path/></svg></body>"),
        ("after", "svg", "<body><svg><g><path/></g><svg></svg></svg>|<p>x</p></body>"),
        ("prepend", ".icon", "<body><svg class=icon><path/></svg><p class=icon>|x</p></body>"),
        ("append", "math", "<body><math><mi>x</mi></math>|</body>"),
        ("before", "p", "<body><svg><foreignObject><p>0</p></foreignObject></svg>|<p>1</p></body>"),
        ("before", "b", "<body><math><mi><b>0</b></mi><mo>+</mo></math>|<b>1</b></body>"),
        ("before", "h1", "<body><svg><style>h1{}</style><title><h1></title></svg>|<h1>t</h1></body>"),
        ("before", "a", "<body><svg><a href=x>0</a></svg>|<a href=y>1</a></body>"),
        (
            "before",
            "p",
            "<body><math><annotation-xml encoding=text/html><p>0</p></annotation-xml></math>|<p>1</p></body>",
        ),
        # a tag that breaks out of foreign content: markup right before it would still be foreign
        ("before", "p", "<body><math><annotation-xml><p>0</p></annotation-xml></math><p>1</p>|</body>"),
        ("after", "svg", "<body><svg><path/><p>x</p>|</body>"),
        ("after", "div", "<body><svg><div>x</div>|</svg></body>"),  # the svg ended at <div>
        ("before", "p", "<body><svg><plaintext>a</plaintext></svg>|<p>x</p></body>"),  # an SVG element there
        ("after", "div", "<body><div/>x</div>|</body>"),  # `/>` does not end an HTML element
        # nor an unknown one outside SVG and MathML: the article is inside it, not a child of main
        ("after", "main > article", "<body><main><o:p/><article>x</article></main>|</body>"),
        ("after", "main > article", "<body><main><fb:like/><article>x</article></main>|</body>"),
        ("after", "main > article", "<body><main><h/><article>x</article></main>|</body>"),
        ("after", "main > article", "<body><main><svg/><article>x</article>|</main></body>"),
        # raw text, comments and attribute values are not markup
        ("before", "h1", "<body><!-- <h1> --><script>'<h1>'</script><title><h1></title>|<h1>t</h1></body>"),
        ("before", "h1", "<body><textarea><h1></textarea><style>h1{}</style><a title='<h1>'>a</a>|<h1>t</h1></body>"),
        ("before", ".x", "<body><!-- <p class=x> --><a title='x' data-class='x'>a</a>|<p class=x>p</p></body>"),
        ("after", "script", "<body><script>if (a<\\/script) {}</script>|</body>"),
        ("prepend", "script", "<body><script>x</script>|</body>"),  # never inside raw text: body-end
        ("prepend", "textarea", "<body><textarea>x</textarea>|</body>"),
    ],
)
def test_where_the_place_is(kind: str, selector: str, page: str) -> None:
    source, expected = marked(page)
    assert place(source, kind, selector)[0] == expected


@pytest.mark.parametrize(
    ("kind", "selector", "page"),
    [
        # a `p` ends at a start tag that closes a paragraph, or where its parent ends
        ("after", "p", "<body><p>one|<p>two</body>"),
        ("after", "p", "<body><p>one <b>bold</b>|<div>block</div></body>"),
        ("append", "p", "<body><div><p>one|</div></body>"),
        ("append", "p", "<body><section><p>one|</section></body>"),
        ("append", "p", "<body><ul><li><p>one|<li>two</ul></body>"),
        ("append", "p", "<body><p>one <span>s</span>|</body>"),
        ("append", "p", "<body><p>one<button>b</button> more|</p></body>"),
        ("append", "p", "<body><p>one <object><div>x</div></object> more|</p></body>"),
        ("append", "article p", "<body><article><p>one|</article><p>two</body>"),
        # `li` at the next `li` of its list, or where the list ends
        ("after", "li", "<body><ul><li>one|<li>two</ul></body>"),
        ("append", "li", "<body><ul><li>one<ul><li>inner</ul> more|</ul></body>"),
        ("append", "li", "<body><ul><li>one<div>x</div> more|<li>two</ul></body>"),
        ("append", "ul > li", "<body><ul><li>one <span>x</span>|</ul></body>"),
        ("append", "li", "<body><ol><li><p>one|</ol><p>two</p></body>"),  # `</ol>` ends the `p` and the `li`
        # `dt`/`dd`, cells and rows, options
        ("append", "dd", "<body><dl><dt>t<dd>one|<dt>u</dl></body>"),
        ("append", "dd", "<body><dl><div><dt>t<dd>one|</div></dl></body>"),
        ("append", "dd", "<body><dl><dt>t<dd>one<div>x</div> more|</dl></body>"),
        ("append", "td", "<body><table><tr><td>one|<td>two</table></body>"),
        ("append", "td", "<body><table><tr><td>one|<tr><td>two</table></body>"),
        ("append", "td", "<body><table><tr><td>one|</table></body>"),
        ("append", "td", "<body><table><tr><td>one<table><tr><td>in</table> more|</table></body>"),
        ("append", "tr", "<body><table><tr><td>a<td>b|<tr><td>c</table></body>"),
        ("before", "td", "<body><td>ignored</td><table><tr>|<td>cell</table></body>"),
        ("append", "option", "<body><select><option>a|<option>b</select></body>"),
        ("append", "option", "<body><select><option>a|</select></body>"),
        # headings
        ("after", "h1", "<body><h1>a<span>b</span></h1>|<h2>c</h2></body>"),
        ("append", "h1", "<body><h1>a|</h2><p>b</body>"),  # any heading's end tag ends it
        ("append", "h1", "<body><h1>a|<h2>b</h2></body>"),  # a heading right inside a heading ends it
        ("append", "h1", "<body><h1>a<span>b<h2>c</h2>|</h1></body>"),  # not when something is open between
        # a stray `</p>` makes an empty `p`
        ("before", "div p", "<body><div><div>x</div>|</p><p>y</p></div></body>"),
        ("after", "div p", "<body><div><div>x</div></p>|<p>y</p></div></body>"),
        # the end of the page
        ("append", "div", "<body><div>one|</body></html>"),
        ("after", "div", "<body><div>one|</html>"),
        ("after", "div", "<body><div>one|"),
        # nesting of the same name
        ("after", "div.a", "<body><div class=a><div>x</div><div>y</div></div>|<div class=a>z</div></body>"),
        ("append", "div div", "<body><div><section><div>x<div>y</div>|</div></section></div></body>"),
    ],
)
def test_where_elements_end(kind: str, selector: str, page: str) -> None:
    source, expected = marked(page)
    assert place(source, kind, selector)[0] == expected


@pytest.mark.parametrize(
    ("kind", "selector", "page", "where"),
    [
        # no element in the head is a place for a notice: the next in the body, else body-end
        ("append", "head", "<html><head><title>t</title><meta charset=utf-8></head><body>x|</body>", "body-end"),
        ("after", "head", "<html><head><title>t</title><body>x|</body>", "body-end"),
        ("append", "head", "<head><meta a><link b><script>s</script><div>x</div>|</body>", "body-end"),
        ("before", "script", "<head><script>a</script></head><body><p>x</p>|<script>b</script></body>", "before"),
        ("before", "script", "<head></head><script>a</script><body><p>x</p>|<script>b</script></body>", "before"),
        ("before", "script", "<title>t</title>text|<script>b</script>", "before"),  # text begins the body
        ("before", "script", "<head><script>a</script><div>|<script>b</script></div>", "before"),  # so does a div
        ("after", ".x", "<head><style class=x>p{}</style><link class=x></head><body><p class=x>y</p>|</body>", "after"),
        ("before", "[data-x]", "<head><meta data-x></head><body>|<hr data-x>x</body>", "before"),
        ("before", "[data-x]", "<head><meta data-x><noscript data-x></noscript></head><body>x|</body>", "body-end"),
    ],
)  # fmt: skip
def test_no_element_in_the_head_is_a_place(kind: str, selector: str, page: str, where: str) -> None:
    source, expected = marked(page)
    out, placed = place(source, kind, selector)
    assert out == expected
    assert placed is not None and placed.place is not None and placed.place.kind == where


def test_places_found_and_missed_are_recorded() -> None:
    page = b"<body><main><p>x</p></main></body>"
    assert place(page, "after", "main > p")[1] == Placed("n", Place("after", "main > p"), False)
    out, placed = place(page, "after", "main > div")
    assert out == b"<body><main><p>x</p></main>[n]</body>"
    assert placed == Placed("n", Place("body-end"), True)


def test_first_match_only_even_when_nested() -> None:
    page = b"<body><div class=x>a<div class=x>b</div>c</div><div class=x>d</div></body>"
    assert place(page, "after", ".x")[0] == page.replace(b"c</div>", b"c</div>[n]", 1)
    assert place(page, "prepend", ".x")[0] == page.replace(b"<div class=x>a", b"<div class=x>[n]a", 1)


@pytest.mark.parametrize(
    "page",
    [
        b"<body><h1 class='x", b"<body><h1 class=x", b"<body><article><h1>", b"<body><p><p><p>",
        b"</p></p></li></ul></table></td>", b"<table><td><td><tr><td></tr></table>", b"<h1></h2></h3><h4>",
        b"<svg><path/><circle/></svg><math><mi/></math>", b"<<h1>>", b"<h1<h1>", b"<!DOCTYPE html><h1>",
        b"<a title='<h1>'><b title=\"<h1>\">", b"<li><li><li><dd><dt><option><optgroup><rb><rt><rp>",
        bytes(range(256)), b"<head><meta><title>x</title><h1>y</h1></head><body>z",
    ],
)  # fmt: skip
@pytest.mark.parametrize(
    "selector", ["h1", "article h1", ".x", "main > h1", "[class]", "li", "td", "p", "head", "option", "svg path"]
)
@pytest.mark.parametrize("kind", ["before", "after", "prepend", "append"])
def test_any_page_any_selector_never_raises(page: bytes, selector: str, kind: str) -> None:
    out, _ = place(page, kind, selector)
    assert out.replace(b"[n]", b"", 1) == page
