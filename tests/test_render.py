from __future__ import annotations

import pytest

from compliance.respond.html import HtmlRewriter, Insertion
from compliance.respond.render import (
    charset_from_content_type,
    choose_language,
    codec_for,
    is_rtl,
    link_text,
    parse_accept_language,
    render_notice_html,
    render_style,
    render_text,
    sniff_html,
)
from compliance.rules.model import Link, Notice, Place


def make_notice(
    text: dict[str, str] | None = None,
    *,
    id: str = "warning",
    default: str = "en",
    link: Link | None = None,
) -> Notice:
    return Notice(
        id=id,
        title="A warning",
        text=text if text is not None else {"en": "Take care."},
        default_language=default,
        link=link,
    )


MULTI = make_notice(
    {"en": "Take care.", "ru": "Осторожно.", "pt": "Cuidado.", "zh-Hant": "小心。", "zh": "小心", "en-GB": "Mind."}
)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("text/html; charset=utf-8", "utf-8"),
        ("text/html;charset=windows-1251", "windows-1251"),
        ('text/html; charset="koi8-r"', "koi8-r"),
        ("text/html; Charset = 'Shift_JIS' ", "Shift_JIS"),
        ("text/html; boundary=x; charset=iso-8859-1", "iso-8859-1"),
        ("text/html", None),
        ("text/html; charset=", None),
        ("", None),
    ],
)
def test_charset_from_content_type(value: str, expected: str | None) -> None:
    assert charset_from_content_type(value) == expected


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (b'<!DOCTYPE html><html lang="ru"><head><meta charset="windows-1251">', ("windows-1251", "ru")),
        (b"<HTML LANG=pt-BR><HEAD><META CHARSET=UTF-8>", ("UTF-8", "pt-BR")),
        (
            b'<html lang=\'uk\'><head><meta http-equiv="Content-Type" content="text/html; charset=koi8-u">',
            ("koi8-u", "uk"),
        ),
        (b'<html xml:lang="de" class="x"><meta charset="utf-8">', ("utf-8", None)),
        (b'<html data-lang="de" lang="fr">', (None, "fr")),
        (b'<!-- <meta charset="cp1251"> --><html lang="en"><meta charset="utf-8">', ("utf-8", "en")),
        (b'<html lang="">', (None, None)),
        (b'<html lang="en&quot;>">', (None, None)),
        (b"<p>no declarations</p>", (None, None)),
        (b"\x00\xff\xfe<<<>>>", (None, None)),
        (b" " * 1024 + b'<meta charset="utf-8">', (None, None)),  # beyond the first 1024 bytes
    ],
)
def test_sniff_html(head: bytes, expected: tuple[str | None, str | None]) -> None:
    assert sniff_html(head) == expected


@pytest.mark.parametrize(
    ("label", "codec"),
    [
        (None, "utf-8"),
        ("", "utf-8"),
        ("UTF-8", "utf-8"),
        ("utf8", "utf-8"),
        ("windows-1251", "cp1251"),
        ("cp1251", "cp1251"),
        ("koi8-r", "koi8-r"),
        ("KOI8-U", "koi8-u"),
        ("iso-8859-1", "cp1252"),
        ("latin1", "cp1252"),
        ("us-ascii", "cp1252"),
        ("iso-8859-9", "cp1254"),
        ("iso-8859-5", "iso8859-5"),
        ("shift_jis", "cp932"),
        ("euc-kr", "cp949"),
        ("gb2312", "gbk"),
        ("big5", "big5hkscs"),
        ("euc-jp", "euc_jp"),
        ('"windows-1252"', "cp1252"),
        ("utf-16", None),
        ("utf-16le", None),
        ("iso-2022-jp", None),
        ("cp037", None),  # EBCDIC: ASCII is not ASCII
        # the WHATWG label table: labels browsers accept that Python does not know by that name
        ("x-cp1251", "cp1251"),
        ("x-cp1250", "cp1250"),
        ("x-cp1258", "cp1258"),
        ("iso88595", "iso8859-5"),
        ("iso885915", "iso8859-15"),
        ("csisolatin9", "iso8859-15"),
        ("x-mac-cyrillic", "mac_cyrillic"),
        ("utf-7", None),
        ("raw_unicode_escape", None),
        ("x-no-such-charset", None),
        ("rot13", None),
    ],
)
def test_codec_for(label: str | None, codec: str | None) -> None:
    assert codec_for(label) == codec


@pytest.mark.parametrize(
    ("content_language", "html_lang", "accept_language", "expected"),
    [
        ("ru", "en", "en", "ru"),  # Content-Language first
        ("de, ru", None, None, "ru"),  # a list: each in turn
        ("de", "ru", "en", "ru"),  # then <html lang>
        (None, "RU", None, "ru"),  # case-insensitive
        (None, "pt-BR", None, "pt"),  # truncation
        (None, "zh-Hant-TW", None, "zh-Hant"),
        (None, "zh-Hans-CN", None, "zh"),
        (None, "en-GB", None, "en-GB"),
        (None, "en-US", None, "en"),
        (None, None, "de, ru;q=0.8, en;q=0.9", "en"),  # by quality
        (None, None, "ru;q=0.5, pt;q=0.5", "ru"),  # ties keep header order
        (None, None, "ru;q=0, de", "en"),  # q=0 means never; then the default
        (None, None, "*, ru;q=0.1", "ru"),  # `*` ignored
        (None, None, "ru;q=abc, pt;q=0.2", "pt"),  # a malformed q is left out
        (None, None, "x-klingon, pt-PT;q=0.3", "pt"),
        (None, "xx", "yy", "en"),  # nothing matches: the default language
        ("", "", "", "en"),
    ],
)
def test_choose_language(
    content_language: str | None, html_lang: str | None, accept_language: str | None, expected: str
) -> None:
    assert choose_language(MULTI, content_language, html_lang, accept_language) == expected


def test_choose_language_returns_the_key_as_written() -> None:
    notice = make_notice({"EN": "Take care.", "pt_BR": "Cuidado."}, default="EN")
    assert choose_language(notice, None, "pt-br", None) == "pt_BR"
    assert choose_language(notice, None, None, "en-us") == "EN"


def test_choose_language_falls_back_to_the_first_text_without_a_usable_default() -> None:
    notice = make_notice({"ru": "Осторожно.", "en": "Take care."}, default="de")
    assert choose_language(notice, None, None, None) == "ru"


def test_choose_language_does_not_mix_up_notices_at_a_recycled_address() -> None:
    first = make_notice({"en": "a", "ru": "б"})
    assert choose_language(first, None, "ru", None) == "ru"
    second = make_notice({"en": "a"})
    assert choose_language(second, None, "ru", None) == "en"


def test_parse_accept_language_orders_by_quality() -> None:
    assert parse_accept_language("da, en-gb;q=0.8, en;q=0.7, *;q=0.1, fr;q=0") == ("da", "en-gb", "en")
    assert parse_accept_language("") == ()


@pytest.mark.parametrize(
    ("language", "rtl"),
    [
        ("ar", True),
        ("he", True),
        ("fa-IR", True),
        ("ckb", True),
        ("ur", True),
        ("en", False),
        ("ru", False),
        ("az-Arab", True),
        ("pa-Arab-PK", True),
        ("uz-Latn", False),
        ("ar-Latn", False),  # a script subtag decides
        ("ku-Arab", True),
        ("yi", True),
    ],
)
def test_is_rtl(language: str, rtl: bool) -> None:
    assert is_rtl(language) is rtl


def test_render_notice_html_is_exactly_the_specified_markup() -> None:
    notice = make_notice(
        {"en": "The authorities have listed us as\nan undesirable organization.\n\nReaders may be fined.\n"},
        id="undesirable-organization",
        link=Link("https://example.org/undesirable", {"en": "To find out more, click here."}),
    )
    assert render_notice_html(notice, "en", "utf-8") == (
        b'<aside class="legal-notice" data-legal-notice="undesirable-organization" lang="en" role="note">'
        b"<p>The authorities have listed us as an undesirable organization.</p>"
        b"<p>Readers may be fined.</p>"
        b'<p><a href="https://example.org/undesirable">To find out more, click here.</a></p>'
        b"</aside>"
    )


def test_the_inline_form_is_phrasing_content() -> None:
    notice = make_notice(
        {"en": "Readers may be fined.\n\nOr worse."},
        id="n",
        link=Link("https://example.org/why", {"en": "Why?"}),
    )
    assert render_notice_html(notice, "en", "utf-8", inline=True) == (
        b'<span class="legal-notice" data-legal-notice="n" lang="en" role="note">'
        b'Readers may be fined.<br>Or worse.<br><a href="https://example.org/why">Why?</a></span>'
    )


def test_render_notice_html_without_a_link() -> None:
    assert render_notice_html(make_notice(), "en", "utf-8") == (
        b'<aside class="legal-notice" data-legal-notice="warning" lang="en" role="note"><p>Take care.</p></aside>'
    )


def test_render_notice_html_marks_right_to_left_languages() -> None:
    notice = make_notice({"en": "Take care.", "ar": "احذر."})
    markup = render_notice_html(notice, "ar", "utf-8")
    assert markup.startswith(
        b'<aside class="legal-notice" data-legal-notice="warning" lang="ar" dir="rtl" role="note">'
    )
    assert b'dir="rtl"' not in render_notice_html(notice, "en", "utf-8")


def test_render_notice_html_escapes_text_and_href() -> None:
    notice = make_notice(
        {"en": 'Do not run <script>alert("x")</script> & "quote" it'},
        link=Link('https://example.org/a?b=1&c="2"&d=<3>', {"en": "<b>More</b>"}),
    )
    markup = render_notice_html(notice, "en", "utf-8")
    assert b"<script>" not in markup and b"<b>" not in markup
    assert b"<p>Do not run &lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &quot;quote&quot; it</p>" in markup
    assert (
        b'<a href="https://example.org/a?b=1&amp;c=&quot;2&quot;&amp;d=&lt;3&gt;">&lt;b&gt;More&lt;/b&gt;</a>' in markup
    )


@pytest.mark.parametrize("href", ["javascript:alert(1)", " JavaScript:alert(1)", "java\tscript:x", "data:text/html,x"])
def test_render_notice_html_leaves_out_a_script_link(href: str) -> None:
    notice = make_notice(link=Link(href, {"en": "More"}))
    assert b"<a " not in render_notice_html(notice, "en", "utf-8")


def test_render_notice_html_in_windows_1251() -> None:
    notice = make_notice({"en": "Take care.", "ru": "Осторожно: «иноагент» — 2024 €"}, link=Link("/x", {"ru": "Ещё"}))
    markup = render_notice_html(notice, "ru", codec_for("windows-1251") or "")
    assert markup.decode("cp1251") == (
        '<aside class="legal-notice" data-legal-notice="warning" lang="ru" role="note">'
        '<p>Осторожно: «иноагент» — 2024 €</p><p><a href="/x">Ещё</a></p></aside>'
    )
    assert "Осторожно".encode("cp1251") in markup


def test_render_notice_html_writes_what_the_charset_lacks_as_references() -> None:
    notice = make_notice({"ru": "Осторожно €"}, default="ru")
    assert render_notice_html(notice, "ru", "cp1252") == (
        b'<aside class="legal-notice" data-legal-notice="warning" lang="ru" role="note">'
        b"<p>&#1054;&#1089;&#1090;&#1086;&#1088;&#1086;&#1078;&#1085;&#1086; \x80</p></aside>"
    )
    assert b"&#1054;" in render_notice_html(notice, "ru", "iso8859-1")


def test_render_notice_html_link_text_follows_the_language() -> None:
    notice = make_notice(
        {"en": "Take care.", "pt-BR": "Cuidado."},
        link=Link("/more", {"en": "More", "pt": "Mais"}),
    )
    assert b">Mais</a>" in render_notice_html(notice, "pt-BR", "utf-8")
    assert link_text(notice, "de") == "More"  # none for the language: the first
    assert link_text(make_notice(), "en") is None


def test_render_notice_html_cache_returns_the_same_bytes() -> None:
    notice = make_notice({"en": "Cached."})
    first = render_notice_html(notice, "en", "utf-8")
    assert render_notice_html(notice, "en", "utf-8") is first
    other = make_notice({"en": "Changed."})  # same id, another object: never the stale entry
    assert b"Changed." in render_notice_html(other, "en", "utf-8")


@pytest.mark.parametrize(
    ("text", "paragraphs"),
    [
        ("One line.", ("One line.",)),
        ("First line\nsecond line.\n\nNext paragraph.\n", ("First line second line.", "Next paragraph.")),
        ("  Indented\n   lines  \n \t \n\n\nLast", ("Indented lines", "Last")),
        ("CRLF\r\nlines\r\n\r\nend", ("CRLF lines", "end")),
        ("\n\n", ()),
    ],
)
def test_render_text_splits_paragraphs_at_blank_lines(text: str, paragraphs: tuple[str, ...]) -> None:
    assert render_text(make_notice({"en": text}), "en") == paragraphs


def test_render_text_falls_back_by_truncation() -> None:
    assert render_text(MULTI, "pt-PT") == ("Cuidado.",)


def test_render_style_has_each_css_once_and_cannot_be_closed() -> None:
    css = [".a { color: red }", "p::after { content: '</style><script>x</script>' }", ".a { color: red }"]
    assert render_style(css, "utf-8") == (
        b"<style>.a { color: red }\np::after { content: '<\\/style><script>x<\\/script>' }</style>"
    )
    assert render_style([], "utf-8") == b""


def test_render_style_escapes_what_the_charset_lacks_the_css_way() -> None:
    assert render_style(["q::before { content: 'Ж' }"], "cp1252") == b"<style>q::before { content: '\\416 ' }</style>"
    assert render_style(["q::before { content: 'Ж' }"], "cp1251") == "<style>q::before { content: 'Ж' }</style>".encode(
        "cp1251"
    )


def test_a_windows_1251_page_gets_cyrillic_right_end_to_end() -> None:
    page = (
        '<html lang="ru"><head><meta charset="windows-1251"><title>Новости</title></head>'
        "<body><p>Текст статьи.</p></body></html>"
    ).encode("cp1251")
    charset, lang = sniff_html(page)
    codec = codec_for(charset)
    assert codec == "cp1251"
    notice = make_notice({"en": "Take care.", "ru": "Осторожно."})
    language = choose_language(notice, None, lang, "en")
    assert language == "ru"
    rewriter = HtmlRewriter([Insertion(notice.id, (Place("body-end"),), render_notice_html(notice, language, codec))])
    out = rewriter.feed(page) + rewriter.close()
    assert out.decode("cp1251") == (
        '<html lang="ru"><head><meta charset="windows-1251"><title>Новости</title></head>'
        '<body><p>Текст статьи.</p><aside class="legal-notice" data-legal-notice="warning" lang="ru" role="note">'
        "<p>Осторожно.</p></aside></body></html>"
    )


def test_link_text_keeps_non_breaking_spaces() -> None:
    notice = make_notice(link=Link("/more", {"en": " Read\n more:\u00a010\u00a0km "}))
    assert link_text(notice, "en") == "Read more:\u00a010\u00a0km"
