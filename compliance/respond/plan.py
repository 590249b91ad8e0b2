"""What one decision asks of a response, worked out once per decision and kept with it.

A `Plan` sorts the fired rules by where their notices go (HTML body, JSON field,
response header) and builds the body transform for a response: the HTML rewriter
with the notices rendered for the page's charset and languages, or the JSON
inserter. Rendered inputs are cached per plan, keyed by what chose them. Nothing
here speaks ASGI: the middleware's responder feeds these transforms.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final, Protocol

from compliance.respond.feed import FEED_TYPES, FeedText, FeedTransform, feed_text
from compliance.respond.head import render_head_elements
from compliance.respond.html import HtmlRewriter, Insertion
from compliance.respond.html.amp import AmpRewriter, amp_known
from compliance.respond.json import JsonInserter, notices_json
from compliance.respond.languages import fixed_languages, notice_languages
from compliance.respond.render import (
    bom_charset,
    charset_from_content_type,
    choose_language,
    codec_for,
    render_amp_css,
    render_notice_html,
    render_style,
    sniff_html,
)
from compliance.rules.decide import Decision, Firing
from compliance.rules.model import HTML_PLACES, Notice, Place, element_key

__all__ = [
    "DROPPED_WHEN_CHANGED",
    "FEED_TYPES",
    "HTML_TYPES",
    "PLAN_CACHE_SIZE",
    "JsonTransform",
    "Plan",
    "Skipped",
    "Transform",
    "body_taker",
    "follows_accept_language",
    "is_json",
    "media_type",
    "rewritable_status",
]

HTML_TYPES: Final = frozenset({"text/html", "application/xhtml+xml"})
PLAN_CACHE_SIZE: Final = 1024
#: The longest Content-Language, `<html lang>` and Accept-Language (together) whose choice a plan keeps.
_CHOSEN_KEY_LENGTH: Final = 512

_MEDIA_TYPES: dict[bytes, str] = {}


def media_type(content_type: bytes | None) -> str:
    """The media type of a Content-Type value, lower case (cached: a site sends few distinct values)."""
    if content_type is None:
        return ""
    found = _MEDIA_TYPES.get(content_type)
    if found is None:
        if len(_MEDIA_TYPES) >= 1024:
            _MEDIA_TYPES.clear()
        found = _MEDIA_TYPES[content_type] = content_type.split(b";", 1)[0].strip().lower().decode("latin-1")
    return found


def rewritable_status(status: int) -> bool:
    return (200 <= status < 300 and status not in (204, 205, 206)) or 400 <= status < 600


class Skipped(Exception):
    """The response cannot carry the notices due (the reason is the message)."""


class Transform(Protocol):
    """A body transform: `feed(data, last=True)` also returns what is left at the end."""

    @property
    def placed(self) -> Any: ...

    def feed(self, data: bytes, last: bool = False) -> bytes: ...

    def close(self) -> bytes: ...


def is_json(media: str) -> bool:
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


def body_taker(media: str, feeds: bool, jsons: bool) -> str | None:
    """Whose notices a response of `media` (not HTML) carries in its body, where `{feed: ...}` rules
    (`feeds`) and `{json: ...}` rules (`jsons`) fire: "feed", "json", or None for neither.

    A feed's type is the feed rules' (`application/feed+json` too); a plain `application/json`
    response is the JSON rules' where one fires (as it was before feeds), else a feed rule's.
    """
    if feeds and media in FEED_TYPES and not (jsons and media == "application/json"):
        return "feed"
    if jsons and is_json(media):
        return "json"
    return None


#: Headers that describe the body as the app sent it, and go when the body is changed.
DROPPED_WHEN_CHANGED: Final = frozenset({b"content-length", b"etag", b"content-md5", b"accept-ranges"})
_CHARSETS: dict[bytes, str | None] = {}
#: The first bytes of the byte-order marks (a cheap test before `bom_charset`), and the wide charsets they name.
_BOM_FIRST: Final = (b"\xef", b"\xff", b"\xfe")
_WIDE: Final = frozenset({"utf-16le", "utf-16be"})


def charset_of(content_type: bytes) -> str | None:
    """The charset parameter of a Content-Type value (cached: a site sends few distinct values)."""
    try:
        return _CHARSETS[content_type]
    except KeyError:
        if len(_CHARSETS) >= PLAN_CACHE_SIZE:
            _CHARSETS.clear()
        found = _CHARSETS[content_type] = charset_from_content_type(content_type.decode("latin-1"))
        return found


class FiredKey:
    """The rules, notices and modes a decision fires, by identity: one object for every decision that
    fires the same ones (a plan is made of them alone), so that what is kept per plan and outcome is
    shared by the pages of a section, not kept per URL."""

    __slots__ = ("firings",)

    def __init__(self, firings: tuple[tuple[object, object], ...]) -> None:
        self.firings = firings  # (rule, notice) of each firing: kept alive while their ids are a key


_FIRED_KEYS: dict[tuple[object, ...], FiredKey] = {}


def fired_key(decision: Decision) -> FiredKey:
    """The `FiredKey` of a decision's firings."""
    fired = decision.fired
    ids = tuple(value for f in fired for value in (id(f.rule), id(f.notice), f.enforced))
    found = _FIRED_KEYS.get(ids)
    if found is None:
        if len(_FIRED_KEYS) >= PLAN_CACHE_SIZE:
            _FIRED_KEYS.clear()
        found = _FIRED_KEYS[ids] = FiredKey(tuple((f.rule, f.notice) for f in fired))
    return found


class Plan:
    """What one decision asks of a response, worked out once and kept with the cached decision."""

    __slots__ = (
        "decision",
        "fired",
        "html_due",
        "json_due",
        "feed_due",
        "feed_firings",
        "json_firings",
        "header_due",
        "body_due",
        "multilingual",
        "fixed_shown",
        "rewriters",
        "chosen",
        "json_values",
        "feed_texts",
    )

    def __init__(self, decision: Decision) -> None:
        self.decision = decision
        #: Equal (the same object) for the plans of decisions that fire the same rules, notices and modes.
        self.fired = fired_key(decision)
        self.html_due: list[Firing] = []
        self.json_due: dict[str, list[Firing]] = {}
        self.header_due: dict[str, list[Firing]] = {}
        #: "items" or "channel" -> the firings whose notices go there in a feed
        self.feed_due: dict[str, list[Firing]] = {}
        for firing in decision.fired:
            if not firing.enforced or not firing.rule.placement:
                continue
            first = firing.rule.placement[0]
            if first.kind in HTML_PLACES or first.kind == "head":
                self.html_due.append(firing)
            elif first.kind == "json" and first.arg:
                self.json_due.setdefault(first.arg, []).append(firing)
            elif first.kind == "feed" and first.arg:
                self.feed_due.setdefault(first.arg, []).append(firing)
            elif first.kind == "header" and first.arg:
                self.header_due.setdefault(first.arg, []).append(firing)
        #: Whether a notice is due in a body (HTML or JSON), where a `Range` would cut it off.
        self.body_due = bool(self.html_due or self.json_due or self.feed_due)
        self.feed_firings = [f for firings in self.feed_due.values() for f in firings]
        self.json_firings = [f for firings in self.json_due.values() for f in firings]
        #: Whether the page's own language (`<html lang>`) can change which text is shown.
        self.multilingual = any(_chosen_per_reader(f) for f in self.html_due)
        #: Each notice's languages where none is chosen per reader (they depend on nothing a request sends).
        self.fixed_shown: tuple[tuple[str, ...], ...] = (
            ()
            if self.multilingual
            else tuple(notice_languages(f.rule, f.notice, None, None, None) for f in self.html_due)
        )
        #: (Content-Language, `<html lang>`, Accept-Language) -> each notice's languages, and whether one
        #: followed Accept-Language: what `html_transform` works out for a multilingual page (bounded in
        #: entries and in the length of the values it keys on).
        self.chosen: dict[tuple[str | None, str | None, str | None], tuple[tuple[tuple[str, ...], ...], bool]] = {}
        #: (charset, each notice's languages, whether one followed Accept-Language) -> the rewriter's inputs
        self.rewriters: dict[
            tuple[str | None, tuple[tuple[str, ...], ...], bool],
            tuple[
                tuple[Insertion, ...],
                bytes,
                tuple[tuple[str, dict[str, Any]], ...],
                tuple[tuple[str, bytes], ...],
                bytes,
            ],
        ] = {}
        #: (each notice's languages, whether one followed Accept-Language) -> the JSON field's value, and
        #: each notice with its languages
        self.json_values: dict[
            tuple[tuple[tuple[str, ...], ...], bool], tuple[bytes, list[tuple[Notice, tuple[str, ...]]], bool]
        ] = {}

        #: (where, each notice's languages) -> the notices' text in a feed
        self.feed_texts: dict[tuple[str, tuple[tuple[str, ...], ...]], FeedText] = {}

    @property
    def languages_may_vary(self) -> bool:
        """Whether a notice due in a body has texts in more than one language (for a HEAD's `Vary`)."""
        return any(_chosen_per_reader(f) for f in self.html_due) or any(
            _chosen_per_reader(f) for due in (self.json_due, self.feed_due) for firings in due.values() for f in firings
        )

    def due_for(self, media: str) -> list[Firing]:
        """The firings whose notices a response of this media type may carry in its body.

        Where feed and JSON rules both fire, `body_taker` says whose a response is.
        """
        if media in HTML_TYPES:
            return self.html_due
        taker = body_taker(media, bool(self.feed_firings), bool(self.json_firings))
        return self.feed_firings if taker == "feed" else self.json_firings if taker == "json" else []

    def feed_transform(
        self, media: str, content_language: str | None, accept_language: str | None, outcome: dict[str, dict[str, Any]]
    ) -> tuple[Transform, bool]:
        """The `{feed: ...}` transform for these languages; each notice's language goes into `outcome`."""
        places: list[tuple[str, FeedText, list[str]]] = []
        varies = False
        for where in ("items", "channel"):
            firings = self.feed_due.get(where)
            if not firings:
                continue
            items: list[tuple[Notice, str]] = []
            for f in firings:
                languages = notice_languages(f.rule, f.notice, content_language, None, accept_language)
                varies = varies or (_chosen_per_reader(f) and follows_accept_language(f.notice, content_language, None))
                items.extend((f.notice, language) for language in languages)
                outcome[f.notice.id] = language_outcome(languages)
            places.append((where, feed_text(items), [f.notice.id for f in firings]))
        return FeedTransform(places, media), varies

    def json_transform(
        self, content_language: str | None, accept_language: str | None, outcome: dict[str, dict[str, Any]]
    ) -> tuple[Transform, bool]:
        """The `{json: FIELD}` transform for these languages; each notice's language goes into `outcome`.

        The flag says whether a notice's language followed Accept-Language (the response then varies on it).
        """
        ((field, firings),) = list(self.json_due.items())[:1]
        # Keyed by the languages chosen, never by the raw request headers.
        shown = tuple(notice_languages(f.rule, f.notice, content_language, None, accept_language) for f in firings)
        varies = any(
            _chosen_per_reader(f) and follows_accept_language(f.notice, content_language, None) for f in firings
        )
        built = self.json_values.get((shown, varies))
        if built is None:
            items = [(f.notice, languages) for f, languages in zip(firings, shown, strict=True)]
            if len(self.json_values) >= PLAN_CACHE_SIZE:
                self.json_values.clear()
            entries = [(notice, language) for notice, languages in items for language in languages]
            built = self.json_values[(shown, varies)] = (notices_json(entries), items, varies)
        value, items, varies = built
        for notice, languages in items:
            outcome[notice.id] = {**language_outcome(languages), "place": f"json: {field}"}
        return JsonTransform(field, value, [f.notice.id for f in firings]), varies

    def html_transform(
        self,
        content_type: bytes,
        content_language: str | None,
        accept_language: str | None,
        head: bytes,
        holdback: int,
        outcome: dict[str, dict[str, Any]],
    ) -> tuple[Transform, bool]:
        """The HTML rewriter for this page; `head` is the body's first bytes (charset and `<html lang>`).

        The flag says whether a notice's language followed Accept-Language (the response then varies on it).
        """
        charset = bom_charset(head) if head[:1] in _BOM_FIRST else None  # a byte-order mark wins over every label
        if charset is None:
            charset = charset_of(content_type)
        if charset is None:
            sniffed_charset, _ = sniff_html(head)
            charset = sniffed_charset
        # Keyed by what was chosen (the charset, each notice's languages), never by the raw
        # request headers: a client sending a new Accept-Language each time adds no entry.
        if self.multilingual:
            html_lang = sniff_html(head)[1]
            asked = (content_language, html_lang, accept_language)
            found = self.chosen.get(asked)
            if found is None:
                found = (
                    tuple(
                        notice_languages(f.rule, f.notice, content_language, html_lang, accept_language)
                        for f in self.html_due
                    ),
                    any(
                        _chosen_per_reader(f) and follows_accept_language(f.notice, content_language, html_lang)
                        for f in self.html_due
                    ),
                )
                if sum(len(v) for v in asked if v is not None) <= _CHOSEN_KEY_LENGTH:
                    if len(self.chosen) >= PLAN_CACHE_SIZE:
                        self.chosen.clear()
                    self.chosen[asked] = found
            shown, varies = found
        else:
            shown, varies = self.fixed_shown, False
        key = (charset, shown, varies)
        built = self.rewriters.get(key)
        if built is None:
            if len(self.rewriters) >= PLAN_CACHE_SIZE:
                self.rewriters.clear()
            built = self.rewriters[key] = self._prepare_rewriter(charset, shown)
        insertions, head_markup, languages, heads, amp_css = built
        for notice_id, said in languages:  # built once per charset and languages, read only
            outcome[notice_id] = said
        if head_markup:  # only pages whose notices carry CSS look for AMP
            amp = amp_known(head)
            if amp is not False:
                return AmpRewriter(insertions, head_markup, amp_css, holdback, amp, heads), varies
        return HtmlRewriter(insertions, head_markup, holdback, heads), varies

    def _prepare_rewriter(
        self, charset: str | None, shown: tuple[tuple[str, ...], ...]
    ) -> tuple[
        tuple[Insertion, ...], bytes, tuple[tuple[str, dict[str, Any]], ...], tuple[tuple[str, bytes], ...], bytes
    ]:
        """The notices' markup for this charset, each notice in the languages `shown` (cached per decision)."""
        codec = codec_for(charset)
        if codec is None:
            if charset in _WIDE:
                raise Skipped(f"the page is in {charset.upper()}, where a notice cannot be placed safely")
            raise Skipped(f"the page's charset {charset!r} is not known")
        insertions: list[Insertion] = []
        languages: list[tuple[str, dict[str, Any]]] = []  # what the audit says of each notice's languages
        css: list[str] = []
        heads: list[tuple[str, bytes]] = []  # `placement: head`: each notice's head elements
        for firing, notice_shown in zip(self.html_due, shown, strict=True):
            notice, rule = firing.notice, firing.rule
            if rule.placement[0].kind == "head":
                heads.append((notice.id, render_head_elements(notice, codec)))
                continue
            places = tuple(p for p in rule.placement if p.kind in HTML_PLACES)
            if rule.action == "remove":  # one per rule (`element_key`): the element goes, no notice is shown
                insertions.append(
                    Insertion(element_key(rule.id), places, b"", b"", False, rule.match == "all", "remove")
                )
                continue
            form = rule.form
            markup = b"".join(
                render_notice_html(notice, language, codec, inline=form == "inline") for language in notice_shown
            )
            inline = b""
            if form == "auto":
                inline = b"".join(render_notice_html(notice, language, codec, inline=True) for language in notice_shown)
            if rule.action == "notice":
                insertions.append(
                    Insertion(notice.id, places, markup, inline, rule.fallback != "none", rule.match == "all")
                )
            else:  # replace: one per rule (`element_key`), the notice in place of the element
                key = element_key(rule.id)
                insertions.append(Insertion(key, places, markup, inline, False, rule.match == "all", "replace"))
            languages.append((notice.id, language_outcome(notice_shown)))
            if notice.css and notice.css not in css:
                css.append(notice.css)
        head_markup = render_style(css, codec) if css else b""
        amp_css = render_amp_css(css, codec) if css else b""
        return tuple(insertions), head_markup, tuple(languages), tuple(heads), amp_css


def _chosen_per_reader(firing: Firing) -> bool:
    """Whether the notice's language is chosen per reader among several texts (not fixed by a rule)."""
    if firing.rule.action == "remove":
        return False  # nothing of its notice is shown
    if firing.notice.head:  # head elements only: no text is shown
        return False
    return len(firing.notice.text) > 1 and not fixed_languages(firing.rule, firing.notice)


def language_outcome(languages: tuple[str, ...]) -> dict[str, Any]:
    """What the audit says of the languages a notice was shown in: `language`, and `languages` for several."""
    if len(languages) == 1:
        return {"language": languages[0]}
    return {"language": languages[0], "languages": list(languages)}


def follows_accept_language(notice: Notice, content_language: str | None, html_lang: str | None) -> bool:
    """Whether the reader's Accept-Language can change which of the notice's texts is shown."""
    if len(notice.text) < 2:
        return False
    return len({choose_language(notice, content_language, html_lang, tag) for tag in notice.text}) > 1


@dataclass(frozen=True, slots=True)
class JsonPlaced:
    key: str
    place: Place | None
    fallback: bool = False


class JsonTransform:
    """`{json: FIELD}`: the notices as a top-level field of a JSON object body."""

    __slots__ = ("inserter", "ids", "field")

    def __init__(self, field: str, value: bytes, ids: list[str]) -> None:
        self.inserter = JsonInserter(field, value)
        self.ids = ids
        self.field = field

    def feed(self, data: bytes, last: bool = False) -> bytes:
        out = self.inserter.feed(data)
        return out + self.inserter.close() if last else out

    def close(self) -> bytes:
        return self.inserter.close()

    @property
    def reason(self) -> str | None:
        return self.inserter.reason

    @property
    def placed(self) -> list[JsonPlaced]:
        if not self.inserter.placed:
            return []
        return [JsonPlaced(i, Place("json", self.field)) for i in self.ids]
