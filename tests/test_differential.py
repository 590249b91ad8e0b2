"""The awkward-page corpus (bench/corpus.py) through the real middleware, read back by html5lib.

A notice never lands inside a script, style, title, textarea, comment or attribute; the rest of
the page's DOM is never changed by a placement; a notice audited `injected` is one a spec parser
renders, where the audit says it went, and one audited `missed` for the page's end is one a spec
parser would not render there.
The counts are the targets of the benchmark's correctness section, each 0; here there must be no
finding at all (`<plaintext>` or a frameset before the last `</body>` of a page with a `body-end`
notice included).
"""

from __future__ import annotations

import html5lib
import pytest

from bench.corpus import CORPUS, PLACEMENTS, _misplaced, run_corpus


def test_the_corpus_covers_what_it_must() -> None:
    names = {name for name, _, _ in CORPUS}
    for needed in (
        "old ad script before the article",
        "ends inside an unclosed script",
        "ends inside a comment",
        "ends inside a tag",
        "ends inside an attribute",
        "frameset",
        "plaintext",
        "attributes holding markup",
        "svg and mathml with scripts and cdata",
        "template",
        "table with implied tbody",
        "omitted end tags",
        "uppercase and odd whitespace",
        "utf-8 bom",
        "windows-1251",
        "utf-16 with bom",
        "o:p, fb:like, h",
        "plaintext before the end of the body",
        "frameset then a body",
        "frameset after body text",
        "raw text elements holding markup",
        "svg with foreignObject",
        "mathml html integration point",
        "svg breakout",
        "utf-16 big endian with bom",
    ):
        assert needed in names
    assert len(PLACEMENTS) >= 10


def test_no_notice_lands_where_a_browser_would_not_show_it_nor_changes_the_page() -> None:
    result = run_corpus()
    assert result.runs == len(CORPUS) * len(PLACEMENTS)
    assert result.findings == []


@pytest.mark.parametrize(
    ("page", "place", "right"),
    [
        ("<p>a</p><aside data-legal-notice=n>N</aside><li>b", "after: li", False),
        ("<p>a</p><aside data-legal-notice=n>N</aside><p>b</p>", "before: p", True),
        ("<ul><li>a<aside data-legal-notice=n>N</aside><li>b</ul>", "before: li", True),  # last in the li left open
        ("<p>a</p><aside data-legal-notice=n>N</aside><p>b</p>", "body-end", False),
        ("<p>a<span data-legal-notice=n>N</span></p><p>b</p>", "append: main p", True),
        ("<p><span data-legal-notice=n>N</span>a</p>", "append: p", False),
        ("<aside data-legal-notice=n>N</aside><p>a</p>", "body-start", True),
        ("text<aside data-legal-notice=n>N</aside><p>a</p>", "body-start", False),
        ("<p>a</p><aside data-legal-notice=n>N</aside>text<p>b</p>", "before: p", False),
    ],
)
def test_a_notice_elsewhere_than_the_audit_says_is_found(page: str, place: str, right: bool) -> None:
    root = html5lib.parse(page, treebuilder="etree", namespaceHTMLElements=False)
    assert (_misplaced(root, place) is None) == right
