"""A notice, a language and a charset in; the bytes a reader sees out.

Everything here runs per response, so each answer is cached in a small bounded
dict: a repeat costs a dict lookup. Cache keys that name a `Notice` by `id()`
keep the notice itself in the value and check it with `is`, so a rule set
reloaded into a new object at a recycled address never gets a stale answer.

- `charset_from_content_type`, `sniff_html`, `codec_for`: which Python codec
  writes the notice into the page. Only charsets in which ASCII is ASCII are
  usable (the rewriter searches the page for ASCII tags): `codec_for` answers
  None for UTF-16, UTF-32, EBCDIC, ISO-2022 and unknown labels, and the caller
  records the notice as missed rather than corrupting the page.
- `choose_language`: the language order of rules-format.md (Language).
- `render_notice_html`, `render_style`: the markup of rules-format.md (Markup).
- `render_text`, `link_text`: the same words for the JSON and 451 renderers.
"""

from __future__ import annotations

import codecs
import html
import re
from collections.abc import Mapping, Sequence
from typing import Final

import webencodings

from compliance.rules.model import Notice

__all__ = [
    "RTL_LANGUAGES",
    "RTL_SCRIPTS",
    "charset_from_content_type",
    "choose_language",
    "codec_for",
    "is_rtl",
    "link_text",
    "render_notice_html",
    "render_amp_css",
    "render_style",
    "render_text",
    "sniff_html",
]

#: Primary language subtags written right to left.
RTL_LANGUAGES: Final = frozenset({"ar", "fa", "he", "ur", "yi", "ps", "sd", "ug", "dv", "ckb", "iw", "ji", "syr"})
#: Script subtags written right to left; a script subtag overrides the language's own direction.
RTL_SCRIPTS: Final = frozenset({"arab", "hebr", "thaa", "syrc", "nkoo", "adlm", "rohg", "mand", "samr"})

#: The size of each cache; a full cache is emptied and refilled (no LRU bookkeeping on the hot path).
CACHE_SIZE: Final = 4096
#: `sniff_html` looks at no more than this (the HTML prescan size).
SNIFF_SIZE: Final = 1024

_ASCII_WS: Final = " \t\n\r\f"
_UNSAFE_SCHEMES: Final = ("javascript:", "vbscript:", "data:")
_TAG_RE: Final = re.compile(r"[A-Za-z0-9]+(?:-[A-Za-z0-9]+)*")


# --- charset ----------------------------------------------------------------------------------


def charset_from_content_type(value: str) -> str | None:
    """The `charset` parameter of a Content-Type value (quoted or not), or None."""
    for param in value.split(";")[1:]:
        name, sep, raw = param.partition("=")
        if sep and name.strip(_ASCII_WS).lower() == "charset":
            charset = raw.strip(_ASCII_WS).strip("\"'").strip(_ASCII_WS)
            return charset or None
    return None


_COMMENT_B: Final = re.compile(rb"<!--.*?(?:-->|\Z)", re.S)
_META_CHARSET: Final = re.compile(
    rb"<meta(?=[\t\n\f\r /])[^>]*?(?<![\w:-])charset[\t\n\f\r ]*=[\t\n\f\r ]*[\"']?[\t\n\f\r ]*([A-Za-z0-9_.:()+-]+)",
    re.I,
)
_HTML_LANG: Final = re.compile(
    rb"<html(?=[\t\n\f\r />])[^>]*?(?<=[\t\n\f\r \"'/])lang[\t\n\f\r ]*=[\t\n\f\r ]*"
    rb"(?:\"([^\"]*)\"|'([^']*)'|([^\t\n\f\r \"'>]+))",
    re.I,
)


def sniff_html(head: bytes) -> tuple[str | None, str | None]:
    """(charset, lang) declared in the first 1024 bytes of a page.

    The charset comes from `<meta charset=...>` or `<meta http-equiv="Content-Type"
    content="...; charset=...">`, the language from the `lang` attribute of the
    `<html>` start tag (not `xml:lang`). Comments are skipped. Either is None when
    the page does not say, or says something that is not a plain label.
    """
    window = bytes(head[:SNIFF_SIZE])
    if b"<!--" in window:
        window = _COMMENT_B.sub(b"", window)
    charset: str | None = None
    lang: str | None = None
    m = _META_CHARSET.search(window)
    if m is not None:
        charset = m.group(1).decode("ascii")
    m = _HTML_LANG.search(window)
    if m is not None:
        raw = next(g for g in m.groups() if g is not None).strip(b" \t\n\r\f").replace(b"_", b"-")
        if raw and _TAG_RE.fullmatch(raw.decode("latin-1")):
            lang = raw.decode("ascii")
    return charset, lang


# Labels of the WHATWG Encoding Standard whose Python codec is not found by name, or
# that browsers read as a different (larger) charset: a page labelled ISO-8859-1 is
# read as windows-1252, so the notice is written in windows-1252 too.
_LABEL_TABLE: Final[tuple[tuple[str | None, str], ...]] = (
    ("utf-8", "unicode-1-1-utf-8 unicode11utf8 unicode20utf8 x-unicode20utf8"),
    (
        "cp1252",
        "ansi_x3.4-1968 ascii cp819 csisolatin1 ibm819 iso-8859-1 iso-ir-100 iso8859-1 iso88591 iso_8859-1"
        " iso_8859-1:1987 l1 latin1 us-ascii x-cp1252",
    ),
    (
        "cp1254",
        "csisolatin5 iso-8859-9 iso-ir-148 iso8859-9 iso88599 iso_8859-9 iso_8859-9:1989 l5 latin5 x-cp1254",
    ),
    ("cp874", "dos-874 iso-8859-11 iso8859-11 iso885911 tis-620 windows-874"),
    ("cp932", "csshiftjis ms932 ms_kanji shift-jis shift_jis sjis windows-31j x-sjis"),
    (
        "cp949",
        "cseuckr csksc56011987 euc-kr iso-ir-149 korean ks_c_5601-1987 ks_c_5601-1989 ksc5601 ksc_5601 windows-949",
    ),
    ("gbk", "chinese csgb2312 csiso58gb231280 gb2312 gb_2312 gb_2312-80 gbk iso-ir-58 x-gbk"),
    ("big5hkscs", "big5 big5-hkscs cn-big5 csbig5 x-x-big5"),
    ("iso8859_8", "iso-8859-8-i iso-8859-8-e csiso88598i logical"),
    ("koi8_r", "koi koi8 koi8_r cskoi8r"),
    ("koi8_u", "koi8-ru"),
    ("mac_roman", "csmacintosh mac macintosh x-mac-roman"),
    ("mac_cyrillic", "x-mac-cyrillic x-mac-ukrainian"),
    ("cp866", "866 cp866 csibm866 ibm866"),
    # Not ASCII-compatible, or stateful: the page's tags are not ASCII bytes, or a notice
    # could land in the middle of a shift sequence.
    (
        None,
        "utf-16 utf-16le utf-16be utf-32 utf-32le utf-32be ucs-2 iso-2022-jp csiso2022jp iso-2022-kr iso-2022-cn"
        " iso-2022-cn-ext hz-gb-2312 replacement x-user-defined utf-7 utf7",
    ),
)
# Labels of the WHATWG Encoding Standard whose Python codec is not found by name, or that
# browsers read as a different (larger) charset: a page labelled ISO-8859-1 is read as
# windows-1252, so the notice is written in windows-1252 too.
_LABELS: Final[Mapping[str, str | None]] = {label: codec for codec, labels in _LABEL_TABLE for label in labels.split()}
#: Python codecs that pass the ASCII test but are not charsets a page can be in.
_NOT_CHARSETS: Final = frozenset({"raw-unicode-escape", "unicode-escape", "utf-7", "undefined"})
_ASCII: Final = bytes(range(128))
_CODEC_CACHE: dict[str | None, str | None] = {}


def codec_for(charset: str | None) -> str | None:
    """The Python codec that writes text into a page of this HTTP/HTML charset label.

    No label means UTF-8. The result is None for a label that names no known
    charset, or one whose bytes for ASCII are not ASCII (UTF-16, UTF-32, EBCDIC,
    ISO-2022): the notice cannot be placed safely, and the caller records it as
    missed. Labels are read as browsers read them (WHATWG Encoding Standard):
    ISO-8859-1 and US-ASCII are windows-1252, Shift_JIS is windows-31J, EUC-KR
    is windows-949.
    """
    try:
        return _CODEC_CACHE[charset]
    except KeyError:
        pass
    codec = _codec_for(charset)
    if len(_CODEC_CACHE) >= CACHE_SIZE:
        _CODEC_CACHE.clear()
    _CODEC_CACHE[charset] = codec
    return codec


def _codec_for(charset: str | None) -> str | None:
    if charset is None:
        return "utf-8"
    label = charset.strip(_ASCII_WS + "\"'").lower()
    if not label:
        return "utf-8"
    if label in _LABELS:
        return _LABELS[label]
    encoding = webencodings.lookup(label)  # the WHATWG label table: the labels browsers accept
    if encoding is None:
        return None
    try:
        name = codecs.lookup(encoding.codec_info.name).name
        ascii_safe = _ASCII.decode("ascii").encode(name) == _ASCII and _ASCII.decode(name) == _ASCII.decode("ascii")
    except (LookupError, UnicodeError, ValueError, TypeError):
        return None
    if not ascii_safe or name in _NOT_CHARSETS or name.startswith(("iso2022", "hz")):
        return None
    return name


#: Byte-order marks, which win over every label (as in browsers), and the charset each names.
BOMS: Final = ((b"\xef\xbb\xbf", "utf-8"), (b"\xff\xfe", "utf-16le"), (b"\xfe\xff", "utf-16be"))


def bom_charset(head: bytes) -> str | None:
    """The charset a byte-order mark at the start of the body names, or None."""
    for mark, charset in BOMS:
        if head.startswith(mark):
            return charset
    return None


# --- language -----------------------------------------------------------------------------------

_INDEX_CACHE: dict[int, tuple[Mapping[str, str], dict[str, str]]] = {}
_ACCEPT_CACHE: dict[str, tuple[str, ...]] = {}
_CHOICE_CACHE: dict[tuple[int, str | None, str | None, str | None], tuple[Notice, str]] = {}


def _index(texts: Mapping[str, str]) -> dict[str, str]:
    """Lower-cased tag -> the tag as written, for one mapping of texts (cached by identity)."""
    hit = _INDEX_CACHE.get(id(texts))
    if hit is not None and hit[0] is texts:
        return hit[1]
    index: dict[str, str] = {}
    for written in texts:
        index.setdefault(written.strip(_ASCII_WS).replace("_", "-").lower(), written)
    if len(_INDEX_CACHE) >= CACHE_SIZE:
        _INDEX_CACHE.clear()
    _INDEX_CACHE[id(texts)] = (texts, index)
    return index


def _lookup(index: Mapping[str, str], tag: str) -> str | None:
    """RFC 4647 lookup of one tag: `zh-Hant-TW`, then `zh-Hant`, then `zh`."""
    tag = tag.strip(_ASCII_WS).replace("_", "-").lower()
    while tag:
        found = index.get(tag)
        if found is not None:
            return found
        cut = tag.rfind("-")
        if cut < 0:
            return None
        tag = tag[:cut]
        if len(tag) >= 2 and tag[-2] == "-":  # never end on a singleton such as the `x` of `en-x-foo`
            tag = tag[:-2]
    return None


#: What of an Accept-Language header is read: its first tags, within a few hundred bytes.
MAX_ACCEPT_TAGS: Final = 32
MAX_ACCEPT_LENGTH: Final = 512


def bounded_accept_language(value: str | None) -> str | None:
    """The part of an Accept-Language value that is read: at most `MAX_ACCEPT_TAGS` whole items
    within `MAX_ACCEPT_LENGTH` characters, so no header makes a cache key large."""
    if value is None or (len(value) <= MAX_ACCEPT_LENGTH and value.count(",") < MAX_ACCEPT_TAGS):
        return value
    items = value[: MAX_ACCEPT_LENGTH + 1].split(",")[:MAX_ACCEPT_TAGS]
    if len(value) > MAX_ACCEPT_LENGTH and len(items) > 1:
        items.pop()  # the last item may be cut short
    return ",".join(items)[:MAX_ACCEPT_LENGTH]


def parse_accept_language(value: str) -> tuple[str, ...]:
    """The tags of an Accept-Language value, best first (ties keep header order); q=0 and `*` left out."""
    hit = _ACCEPT_CACHE.get(value)
    if hit is not None:
        return hit
    ranked: list[tuple[float, int, str]] = []
    for position, item in enumerate(value.split(",")):
        tag, _, params = item.partition(";")
        tag = tag.strip(_ASCII_WS)
        if not tag or tag == "*" or not _TAG_RE.fullmatch(tag):
            continue
        quality = 1.0
        for param in params.split(";") if params else ():
            name, _, raw = param.partition("=")
            if name.strip(_ASCII_WS).lower() == "q":
                try:
                    quality = float(raw.strip(_ASCII_WS))
                except ValueError:
                    quality = 0.0
        if not quality > 0.0:  # also NaN
            continue
        ranked.append((-min(quality, 1.0), position, tag))
    ranked.sort()
    tags = tuple(tag for _, _, tag in ranked)
    if len(_ACCEPT_CACHE) >= CACHE_SIZE:
        _ACCEPT_CACHE.clear()
    _ACCEPT_CACHE[value] = tags
    return tags


def choose_language(
    notice: Notice,
    content_language: str | None,
    html_lang: str | None,
    accept_language: str | None,
) -> str:
    """The key of `notice.text` to show, as written in the rule file.

    The first that the notice has a text for: each tag of the response's
    Content-Language in order; the page's `<html lang>`; the reader's
    Accept-Language tags by quality; the notice's default language. Tags match
    case-insensitively and fall back by truncation (`pt-BR` finds `pt`).
    """
    key = (id(notice), content_language, html_lang, accept_language)
    hit = _CHOICE_CACHE.get(key)
    if hit is not None and hit[0] is notice:
        return hit[1]
    index = _index(notice.text)
    chosen: str | None = None
    if content_language:
        for tag in content_language.split(","):
            chosen = _lookup(index, tag)
            if chosen is not None:
                break
    if chosen is None and html_lang:
        chosen = _lookup(index, html_lang)
    if chosen is None and accept_language:
        for tag in parse_accept_language(accept_language):
            chosen = _lookup(index, tag)
            if chosen is not None:
                break
    if chosen is None:
        chosen = _lookup(index, notice.default_language) or next(iter(notice.text), notice.default_language)
    if len(_CHOICE_CACHE) >= CACHE_SIZE:
        _CHOICE_CACHE.clear()
    _CHOICE_CACHE[key] = (notice, chosen)
    return chosen


def is_rtl(language: str) -> bool:
    """Whether a BCP 47 tag is written right to left (a script subtag, where given, decides)."""
    subtags = language.strip(_ASCII_WS).replace("_", "-").lower().split("-")
    for subtag in subtags[1:]:
        if len(subtag) == 4 and subtag.isalpha():
            return subtag in RTL_SCRIPTS
        if len(subtag) == 1:
            break
    return subtags[0] in RTL_LANGUAGES


# --- text -----------------------------------------------------------------------------------------

_BLANK_LINE: Final = re.compile(r"\n[ \t\f\v]*\n")
_ASCII_RUN: Final = re.compile(r"[ \t\n\r\f\v]+")


def _text_for(texts: Mapping[str, str], language: str) -> str:
    if language in texts:
        return texts[language]
    found = _lookup(_index(texts), language)
    if found is not None:
        return texts[found]
    return next(iter(texts.values()), "")


def render_text(notice: Notice, language: str) -> tuple[str, ...]:
    """The paragraphs of the notice's text in `language`: split at blank lines, each on one line."""
    text = _text_for(notice.text, language).replace("\r\n", "\n").replace("\r", "\n")
    paragraphs = []
    for block in _BLANK_LINE.split(text):
        paragraph = " ".join(line.strip(_ASCII_WS + "\v") for line in block.split("\n") if line.strip(_ASCII_WS))
        if paragraph:
            paragraphs.append(paragraph)
    return tuple(paragraphs)


def link_text(notice: Notice, language: str) -> str | None:
    """The link's text in `language` (same fallback as the text, else its first text); None without a link."""
    link = notice.link
    if link is None:
        return None
    if not link.text:
        return link.href
    return _ASCII_RUN.sub(" ", _text_for(link.text, language)).strip(" ") or link.href


def _safe_href(href: str) -> bool:
    squeezed = "".join(ch for ch in href if ch > " ").lower()
    return not squeezed.startswith(_UNSAFE_SCHEMES)


# --- markup ---------------------------------------------------------------------------------------

_HTML_CACHE: dict[tuple[int, str, str, bool], tuple[Notice, bytes]] = {}


def render_notice_html(notice: Notice, language: str, codec: str, inline: bool = False) -> bytes:
    """The notice's `<aside>` in `language`, encoded with `codec`; with `inline`, its `<span>`.

    The `<span>` form is phrasing content, for places inside a paragraph or a heading
    (an `<aside>` there would end the paragraph): paragraphs are separated by `<br>`.
    Characters the codec cannot encode become numeric character references. A
    link whose href uses a script-capable scheme (javascript:, vbscript:, data:)
    is left out.
    """
    key = (id(notice), language, codec, inline)  # the entry keeps the notice: checked by identity, never stale
    hit = _HTML_CACHE.get(key)
    if hit is not None and hit[0] is notice:
        return hit[1]
    esc = html.escape
    direction = ' dir="rtl"' if is_rtl(language) else ""
    element = "span" if inline else "aside"
    parts = [
        f'<{element} class="legal-notice" data-legal-notice="{esc(notice.id)}" lang="{esc(language)}"{direction}'
        ' role="note">'
    ]
    paragraphs = [esc(paragraph) for paragraph in render_text(notice, language)]
    words = link_text(notice, language)
    if notice.link is not None and words is not None and _safe_href(notice.link.href):
        paragraphs.append(f'<a href="{esc(notice.link.href)}">{esc(words)}</a>')
    if inline:
        parts.append("<br>".join(paragraphs))
    else:
        parts.extend(f"<p>{paragraph}</p>" for paragraph in paragraphs)
    parts.append(f"</{element}>")
    markup = "".join(parts).encode(codec, "xmlcharrefreplace")
    if len(_HTML_CACHE) >= CACHE_SIZE:
        _HTML_CACHE.clear()
    _HTML_CACHE[key] = (notice, markup)
    return markup


def _css_escape(error: UnicodeError) -> tuple[str, int]:
    """Codec error handler: characters the charset lacks become CSS escapes (`\\416 `)."""
    if not isinstance(error, UnicodeEncodeError):
        raise error
    chunk = error.object[error.start : error.end]
    return "".join(f"\\{ord(ch):x} " for ch in chunk), error.end


codecs.register_error("compliance.css", _css_escape)
_STYLE_CACHE: dict[tuple[tuple[str, ...], str], bytes] = {}


def render_style(css_texts: Sequence[str], codec: str) -> bytes:
    """One `<style>` element with each CSS text once, in order; b"" when there is none.

    `</` becomes `<\\/` so the CSS can never close the element; characters the
    charset lacks become CSS escapes (character references mean nothing in `<style>`).
    """
    texts = tuple(css_texts)
    key = (texts, codec)
    hit = _STYLE_CACHE.get(key)
    if hit is not None:
        return hit
    unique = [text.replace("</", "<\\/") for text in dict.fromkeys(t for t in texts if t.strip(_ASCII_WS))]
    markup = ("<style>" + "\n".join(unique) + "</style>").encode(codec, "compliance.css") if unique else b""
    if len(_STYLE_CACHE) >= CACHE_SIZE:
        _STYLE_CACHE.clear()
    _STYLE_CACHE[key] = markup
    return markup


_IMPORTANT: Final = re.compile(r"!\s*important", re.I)


def render_amp_css(css_texts: Sequence[str], codec: str) -> bytes:
    """The notices' CSS for an AMP page's `<style amp-custom>`: as `render_style`, without the element, and
    without `!important` (which AMP forbids; `validate` warns of it)."""
    unique = [text.replace("</", "<\\/") for text in dict.fromkeys(t for t in css_texts if t.strip(_ASCII_WS))]
    return _IMPORTANT.sub("", "\n".join(unique)).encode(codec, "compliance.css")
