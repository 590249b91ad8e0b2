"""Notices in feeds (`{feed: items}`, `{feed: channel}`): RSS 2.0, Atom and JSON Feed, through the middleware."""

from __future__ import annotations

import gzip
import html
import json
import logging
import os
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from compliance import ComplianceMiddleware
from compliance.respond.feed import MAX_FEED
from compliance.respond.feed_xml import MAX_ITEMS
from examples.news_site import ARTICLES
from examples.news_site import app as site
from tests.conftest import NOTICE_YAML, chunked_app, fetch, http_scope, rule_file, run_asgi

ATOM = "{http://www.w3.org/2005/Atom}"
XHTML = "{http://www.w3.org/1999/xhtml}"
ASIDE = '<aside class="legal-notice" data-legal-notice="warning" lang="en" role="note">'

ITEMS = """
rules:
  - {id: feed-label, notice: warning, jurisdictions: [RU], placement: {feed: items}}
"""
CHANNEL = """
rules:
  - {id: feed-label, notice: warning, jurisdictions: [RU], placement: {feed: channel}}
"""


def wrapped(tmp_path: Path, app: Any, rules: str = ITEMS, notices: str | None = None) -> ComplianceMiddleware:
    path = rule_file(tmp_path, rules) if notices is None else rule_file(tmp_path, rules, notices)
    return ComplianceMiddleware(app, rules=path, reload_interval=None, metrics=False)


def audited(app: Any, path: str, caplog: pytest.LogCaptureFixture) -> tuple[bytes, dict[str, Any]]:
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="compliance.audit"):
        sent = run_asgi(app, http_scope(path))
    (event,) = [json.loads(r.getMessage()) for r in caplog.records if r.name == "compliance.audit"]
    return sent.body, event["rules"][0]


def rss(*items: str, channel: str = "<description>The site.</description>") -> bytes:
    body = "".join(f"<item><title>T{n}</title>{item}</item>" for n, item in enumerate(items))
    head = '<?xml version="1.0" encoding="utf-8"?><rss version="2.0">'
    return f"{head}<channel><title>S</title>{channel}{body}</channel></rss>".encode()


# -- the example site's feeds, end to end -----------------------------------------------------------


def test_every_item_of_the_sites_rss_feed_carries_the_notice(tmp_path: Path) -> None:
    response = fetch(wrapped(tmp_path, site), "/feed.rss")
    channel = ET.fromstring(response.content).find("channel")
    assert channel is not None
    descriptions = [item.findtext("description") or "" for item in channel.iter("item")]
    assert len(descriptions) == len(ARTICLES)
    for description in descriptions:
        assert description.startswith(ASIDE) and "Readers here: take care." in description
        assert description.endswith("</p>")  # the item's own content follows, whole
    assert response.headers["content-length"] == str(len(response.content))


def test_every_entry_of_the_sites_atom_feed_carries_the_notice_as_html(tmp_path: Path) -> None:
    response = fetch(wrapped(tmp_path, site), "/feed.atom")
    entries = ET.fromstring(response.content).findall(f"{ATOM}entry")
    assert len(entries) == len(ARTICLES)
    for entry in entries:
        content = entry.find(f"{ATOM}content")
        assert content is not None and content.get("type") == "html"
        assert (content.text or "").startswith(ASIDE)


def test_every_item_of_the_sites_json_feed_carries_the_notice(tmp_path: Path) -> None:
    response = fetch(wrapped(tmp_path, site), "/feed.json")
    feed = response.json()
    assert feed["version"] == "https://jsonfeed.org/version/1.1"
    assert [item["content_html"].startswith(ASIDE) for item in feed["items"]] == [True] * len(ARTICLES)


def test_a_reader_elsewhere_gets_the_feed_as_the_site_sent_it(tmp_path: Path) -> None:
    plain = fetch(site, "/feed.rss").content
    assert fetch(wrapped(tmp_path, site), "/feed.rss", client=("8.8.8.8", 1)).content == plain


def test_html_pages_are_untouched_by_a_feed_rule(tmp_path: Path) -> None:
    plain = fetch(site, "/news/river-port-reopens").content
    assert fetch(wrapped(tmp_path, site), "/news/river-port-reopens").content == plain


def test_the_audit_records_the_items_that_got_the_notice(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    app = wrapped(tmp_path, chunked_app([rss("<description>a</description>", "")], content_type=b"application/rss+xml"))
    body, rule = audited(app, "/feed", caplog)
    assert rule["outcome"] == "injected" and rule["place"] == "feed: items" and rule["count"] == 2
    second = ET.fromstring(body).findall("channel/item")[1]
    assert (second.findtext("description") or "").startswith(ASIDE)  # an item without one gets a description


# -- framing: chunks and compression ----------------------------------------------------------------


def test_a_gzip_feed_in_small_chunks_is_decoded_rewritten_and_encoded_again(tmp_path: Path) -> None:
    feed = rss(*(f"<description><![CDATA[<p>Story {n}</p>]]></description>" for n in range(20)))
    packed = gzip.compress(feed)
    chunks = [packed[i : i + 7] for i in range(0, len(packed), 7)]
    app = wrapped(
        tmp_path,
        chunked_app(chunks, content_type=b"application/rss+xml", extra_headers=[(b"content-encoding", b"gzip")]),
    )
    sent = run_asgi(app, http_scope("/feed"))
    assert sent.header("content-encoding") == "gzip"
    items = ET.fromstring(gzip.decompress(sent.body)).findall("channel/item")
    assert [(i.findtext("description") or "").startswith(ASIDE) for i in items] == [True] * 20
    assert (items[7].findtext("description") or "").endswith("<p>Story 7</p>")


def test_the_output_does_not_depend_on_the_chunking(tmp_path: Path) -> None:
    feed = rss(*(f"<description>Story &amp; {n}</description>" for n in range(5)))
    whole = run_asgi(wrapped(tmp_path, chunked_app([feed], content_type=b"application/rss+xml")), http_scope("/f"))
    pieces = [feed[i : i + 3] for i in range(0, len(feed), 3)]
    split = run_asgi(wrapped(tmp_path, chunked_app(pieces, content_type=b"application/rss+xml")), http_scope("/f"))
    assert split.body == whole.body and ASIDE.encode() not in whole.body  # escaped as text in the XML
    assert html.escape(ASIDE, quote=False).encode() in whole.body


# -- escaping per element, and attacks ------------------------------------------------------------


def test_cdata_in_the_item_is_never_broken_out_of(tmp_path: Path) -> None:
    notices = """\
notices:
  warning:
    title: Test warning
    text: {en: "End the section ]]> <script>alert(1)</script>"}
    link: {href: "https://example.org/a?x=]]>", text: {en: "Why ]]>?"}}
"""
    item = "<description><![CDATA[<p>Own ]]]]><![CDATA[> text</p>]]></description>"
    app = wrapped(tmp_path, chunked_app([rss(item)], content_type=b"application/rss+xml"), notices=notices)
    body = run_asgi(app, http_scope("/feed")).body
    description = ET.fromstring(body).findtext("channel/item/description") or ""  # still well-formed XML
    assert description.endswith("<p>Own ]]> text</p>")
    assert "End the section ]]&gt; &lt;script&gt;" in description and "<script>" not in description


def test_a_notice_with_cdata_end_in_its_markup_is_split_inside_cdata() -> None:
    from compliance.respond.feed_xml import FeedText, rewrite_xml_feed

    notice = FeedText('<aside data-x="]]>">]]></aside>', "t")
    result = rewrite_xml_feed(rss("<description><![CDATA[<p>Own</p>]]></description>"), "rss", "items", notice)
    assert (ET.fromstring(result.body).findtext("channel/item/description") or "") == notice.html + "<p>Own</p>"


@pytest.mark.parametrize(
    "doctype",
    [
        '<!DOCTYPE rss [<!ENTITY a "lol"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;">]>',
        '<!DOCTYPE rss [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>',
    ],
    ids=["entity-expansion", "external-entity"],
)
def test_a_feed_that_declares_entities_passes_untouched(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, doctype: str
) -> None:
    feed = rss("<description>&c;&xxe;</description>").replace(b"?>", b"?>" + doctype.encode(), 1)
    app = wrapped(tmp_path, chunked_app([feed], content_type=b"application/rss+xml"))
    began = time.perf_counter()
    body, rule = audited(app, "/feed", caplog)
    assert body == feed and time.perf_counter() - began < 1
    assert rule["outcome"] == "missed" and "entities" in rule["why"]


def test_items_inside_comments_are_not_items(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    hidden = "<!-- <item><description>old</description></item> --><item><!-- <description>x</description> --></item>"
    feed = rss("<description>a</description>").replace(b"</channel>", hidden.encode() + b"</channel>")
    body, rule = audited(wrapped(tmp_path, chunked_app([feed], content_type=b"text/xml")), "/f", caplog)
    assert rule["count"] == 2
    assert b"<!-- <item><description>old</description></item> -->" in body  # the comment is left as it was
    assert b"<!-- <description>x</description> --><description>&lt;aside" in body


def test_atom_text_html_and_xhtml_content_each_get_their_form(tmp_path: Path) -> None:
    feed = (
        b'<feed xmlns="http://www.w3.org/2005/Atom"><title>S</title>'
        b"<entry><content>Plain &lt;b&gt;</content></entry>"
        b'<entry><summary type="html"><![CDATA[<p>Own</p>]]></summary></entry>'
        b'<entry><content type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml"><p>Own</p></div></content></entry>'
        b'<entry><content type="image/png">iVBORw0KGgo=</content></entry>'
        b'<entry><content src="https://example.org/x"/></entry>'
        b"</feed>"
    )
    body = run_asgi(wrapped(tmp_path, chunked_app([feed], content_type=b"application/atom+xml")), http_scope("/a")).body
    text, summary, xhtml, image, out_of_line = ET.fromstring(body).findall(f"{ATOM}entry")
    assert text.findtext(f"{ATOM}content") == "Readers here: take care.\n\nWhy?: https://example.org/why\n\nPlain <b>"
    assert (summary.findtext(f"{ATOM}summary") or "").startswith(ASIDE)
    div = xhtml.find(f"{ATOM}content/{XHTML}div")
    assert div is not None and [child.tag for child in div] == [f"{XHTML}aside", f"{XHTML}p"]
    assert image.findtext(f"{ATOM}content") == "iVBORw0KGgo="
    assert (out_of_line.findtext(f"{ATOM}summary") or "").startswith(ASIDE)  # a summary where content is elsewhere


def test_at_most_200_items_get_the_notice(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    feed = rss(*(f"<description>{n}</description>" for n in range(MAX_ITEMS + 50)))
    body, rule = audited(wrapped(tmp_path, chunked_app([feed], content_type=b"application/rss+xml")), "/f", caplog)
    descriptions = [i.findtext("description") or "" for i in ET.fromstring(body).findall("channel/item")]
    assert sum(d.startswith(ASIDE) for d in descriptions) == MAX_ITEMS == rule["count"]
    assert descriptions[-1] == str(MAX_ITEMS + 49)


def test_a_feed_over_the_limit_passes_untouched(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    feed = rss("<description>" + "x" * MAX_FEED + "</description>")
    chunks = [feed[i : i + (1 << 20)] for i in range(0, len(feed), 1 << 20)]
    body, rule = audited(wrapped(tmp_path, chunked_app(chunks, content_type=b"application/rss+xml")), "/f", caplog)
    assert body == feed
    assert rule["outcome"] == "missed" and "larger than 8 MiB" in rule["why"]


def test_xml_and_json_that_are_not_feeds_pass_untouched(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    sitemap = b'<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"></urlset>'
    for body, kind in ((sitemap, b"application/xml"), (b'{"articles": []}', b"application/json")):
        out, rule = audited(wrapped(tmp_path, chunked_app([body], content_type=kind)), "/x", caplog)
        assert out == body and rule["outcome"] == "not-applicable", rule


def test_a_json_feed_served_as_application_json_gets_the_notice(tmp_path: Path) -> None:
    feed = {"version": "https://jsonfeed.org/version/1", "title": "S", "items": [{"id": "1", "content_text": "Own"}]}
    app = wrapped(tmp_path, chunked_app([json.dumps(feed).encode()], content_type=b"application/json"))
    item = json.loads(run_asgi(app, http_scope("/f")).body)["items"][0]
    assert item["content_text"] == "Readers here: take care.\n\nWhy?: https://example.org/why\n\nOwn"


# -- the channel -------------------------------------------------------------------------------------


def test_the_channel_placement_goes_once_into_each_kind_of_feeds_description(tmp_path: Path) -> None:
    app = wrapped(tmp_path, site, CHANNEL)
    channel = ET.fromstring(fetch(app, "/feed.rss").content).find("channel")
    assert channel is not None
    assert channel.findtext("description") == (
        "Readers here: take care.\n\nWhy?: https://example.org/why\n\nIndependent reporting since 1998."
    )
    assert not any(ASIDE in (i.findtext("description") or "") for i in channel.iter("item"))
    atom = ET.fromstring(fetch(app, "/feed.atom").content)
    assert atom.findtext(f"{ATOM}subtitle") == "Readers here: take care.\n\nWhy?: https://example.org/why"
    assert fetch(app, "/feed.json").json()["description"].startswith("Readers here: take care.")


# -- the rule language -------------------------------------------------------------------------------


def compliance(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "compliance", *args], capture_output=True, text=True, cwd=cwd)


def test_validate_points_at_feed_mistakes_with_file_line_and_column(tmp_path: Path) -> None:
    rule_file(
        tmp_path,
        """
rules:
  - {id: a, notice: warning, jurisdictions: [RU], placement: {feed: item}}
  - id: b
    notice: warning
    jurisdictions: [RU]
    placement: {feed: channel}
    fallback: none
""",
    )
    result = compliance("validate", "rules.yaml", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stdout.splitlines()[:2] == [
        'rules.yaml:10:69: error[bad-placement]: "item" is not a place in a feed; did you mean "items"? Write '
        "{feed: items} for the notice in every item of the feed, or {feed: channel} for it once, in the feed's "
        "own description.",
        'rules.yaml:15:15: error[bad-fallback]: "fallback: none" applies to places in an HTML page; a "feed" '
        "placement has no fallback. Remove the fallback line.",
    ]


def test_a_feed_rule_and_a_page_rule_for_one_notice_each_serve_their_responses(tmp_path: Path) -> None:
    rules = ITEMS + "  - {id: page-label, notice: warning, jurisdictions: [RU], placement: body-end}\n"
    rule_file(tmp_path, rules)
    assert compliance("validate", "rules.yaml", cwd=tmp_path).stdout == "0 errors, 0 warnings in 1 file\n"
    app = wrapped(tmp_path, site, rules)
    assert ASIDE.encode() in fetch(app, "/news/river-port-reopens").content
    assert fetch(app, "/feed.json").json()["items"][0]["content_html"].startswith(ASIDE)


def test_a_json_feed_is_the_feed_rules_and_an_api_response_the_json_rules_in_the_audit_explain_and_test(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # An API rule and a feed rule both fire everywhere: the JSON Feed response is the feed rule's, the
    # API's JSON the API rule's. The auditor must not read "missed" for the rule that was never due.
    notices = NOTICE_YAML + "  api-label:\n    title: API label\n    text: {en: Label for the API.}\n"
    rules = ITEMS + "  - {id: api-label, notice: api-label, jurisdictions: [RU], placement: {json: notice}}\n"
    app = wrapped(tmp_path, site, rules, notices)

    def outcomes(path: str) -> tuple[Any, dict[str, Any]]:
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="compliance.audit"):
            body = fetch(app, path).json()
        (event,) = [json.loads(r.getMessage()) for r in caplog.records if r.name == "compliance.audit"]
        return body, {entry["rule"]: (entry["outcome"], entry.get("why")) for entry in event["rules"]}

    feed, seen = outcomes("/feed.json")
    assert feed["items"][0]["content_html"].startswith(ASIDE) and "notice" not in feed
    assert seen == {
        "feed-label": ("injected", None),
        "api-label": ("not-applicable", "a {feed: ...} rule takes this application/feed+json response"),
    }
    api, seen = outcomes("/api/articles")
    assert api["notice"][0]["text"] == "Label for the API." and "content_html" not in json.dumps(api)
    assert seen == {
        "api-label": ("injected", None),
        "feed-label": ("not-applicable", "a {json: ...} rule takes this application/json response"),
    }

    explained = compliance(
        "explain", "--rules", "rules.yaml", "--country", "RU", "--path", "/feed.json", "--content-type",
        "application/feed+json", cwd=tmp_path,
    )  # fmt: skip
    assert "shown     no: a {feed: ...} rule takes this application/feed+json response" in explained.stdout
    (tmp_path / "cases.yaml").write_text(
        "cases:\n"
        "  - name: The JSON Feed carries the feed label only\n"
        "    request: {path: /feed.json, country: RU, content_type: application/feed+json}\n"
        "    expect: {notices: [warning]}\n"
        "  - name: The API carries the API label only\n"
        "    request: {path: /api/articles, country: RU, content_type: application/json}\n"
        "    expect: {notices: [api-label]}\n"
    )
    tested = compliance("test", "cases.yaml", "--rules", "rules.yaml", cwd=tmp_path)
    assert tested.returncode == 0 and "2 passed, 0 failed" in tested.stdout, tested.stdout
    # End to end: the example site, wrapped with these rules, serves what the rules alone say.
    rules_path, cases_path = str(tmp_path / "rules.yaml"), str(tmp_path / "cases.yaml")
    tested = subprocess.run(
        [sys.executable, "-m", "compliance", "test", cases_path, "--rules", rules_path, "--app", "examples.app:app"],
        capture_output=True, text=True, cwd=Path(__file__).resolve().parent.parent,
        env={**os.environ, "COMPLIANCE_RULES": rules_path}, check=False,
    )  # fmt: skip
    assert tested.returncode == 0 and "2 passed, 0 failed" in tested.stdout, tested.stdout


def test_explain_and_rules_only_cases_know_a_feed_by_its_type(tmp_path: Path) -> None:
    rule_file(tmp_path, ITEMS)
    explained = compliance(
        "explain", "--rules", "rules.yaml", "--country", "RU", "--path", "/feed", "--content-type",
        "application/atom+xml", cwd=tmp_path,
    )  # fmt: skip
    assert (
        "goes      at the top of every item of a feed (RSS, Atom or JSON Feed; at most 200 items)" in explained.stdout
    )
    page = compliance("explain", "--rules", "rules.yaml", "--country", "RU", "--path", "/feed", cwd=tmp_path)
    assert "shown     no: the response is text/html, which is not a feed" in page.stdout
    (tmp_path / "cases.yaml").write_text(
        "cases:\n"
        "  - name: The feed carries it\n"
        "    request: {path: /feed, country: RU, content_type: application/rss+xml}\n"
        "    expect: {notices: [warning]}\n"
        "  - name: A page does not\n"
        "    request: {path: /feed, country: RU}\n"
        "    expect: {notices: []}\n"
    )
    tested = compliance("test", "cases.yaml", "--rules", "rules.yaml", cwd=tmp_path)
    assert tested.returncode == 0 and "2 passed, 0 failed" in tested.stdout


def test_the_report_says_where_a_feed_notice_goes(tmp_path: Path) -> None:
    rule_file(tmp_path, CHANNEL)
    result = compliance("report", "--rules", "rules.yaml", "--format", "markdown", "-o", "report.md", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    report = (tmp_path / "report.md").read_text(encoding="utf-8")
    assert "once, at the top of the feed's own description (RSS, Atom or JSON Feed)" in report
