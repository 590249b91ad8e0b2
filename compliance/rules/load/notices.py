"""The "notices" section: each notice's fields, its texts by language, its link and css.

`required_languages` (on a notice, or on a rule for the notice it brings) lists the
languages readers must be able to read it in: each entry a tag (`ru`), or a list of
tags of which any one will do (`[be, ru]`). `compliance.rules.lint` warns where a
notice lacks one.
"""

from __future__ import annotations

import re
from datetime import date
from functools import cache
from types import MappingProxyType
from typing import Final, TypeGuard
from urllib.parse import urlsplit

from compliance.reader.jurisdiction import database_codes
from compliance.rules.load.head import read_head
from compliance.rules.load.languages import read_fixed_languages, resolve_fixed_languages
from compliance.rules.load.markup import markup_warning
from compliance.rules.load.messages import describe, quoted_list, sentences, suggest
from compliance.rules.load.state import Loader, NoticeDraft
from compliance.rules.load.values import FileReader
from compliance.rules.model import HeadElement, Link, Location, Notice
from compliance.rules.yamlstrict import YamlList, YamlMap, YamlScalar, YamlValue

__all__ = ["LINK_KEYS", "NOTICE_KEYS", "check_language", "merge_notices", "read_notices", "read_required_languages"]

NOTICE_KEYS: Final = (
    "title",
    "legal_basis",
    "source_url",
    "owner",
    "review_by",
    "text",
    "link",
    "default_language",
    "css",
    "language",
    "languages",
    "required_languages",
    "head",
)
LINK_KEYS: Final = ("href", "text")

_LANGUAGE_TAG = re.compile(r"[A-Za-z]{2,3}(?:-[A-Za-z0-9]{1,8})*\Z")


def read_notices(reader: FileReader, notices: YamlValue) -> None:
    if not isinstance(notices, YamlMap):
        reader.error(
            notices,
            "bad-type",
            '"notices" needs a mapping of notice ids to notices: the id followed by ":" on a line of its own, '
            f"and the notice's fields indented below it; not {describe(notices)}.",
        )
        return
    for key, value in notices.items():
        if not reader.check_id(key, "notice id"):
            continue
        reader.loader.notices.append(NoticeDraft(key.value, reader.path, key, _read_notice(reader, key, value)))


def _read_notice(reader: FileReader, key: YamlScalar, node: YamlValue) -> Notice | None:
    notice_id = key.value
    if not isinstance(node, YamlMap):
        reader.error(
            node if not (isinstance(node, YamlScalar) and node.is_empty) else key,
            "bad-type",
            f'The notice "{notice_id}" needs its fields (title, text, ...) indented below it, not '
            f"{describe(node) if not (isinstance(node, YamlScalar) and node.is_empty) else 'nothing'}.",
        )
        return None
    what = f'The notice "{notice_id}"'
    reader.check_keys(node, NOTICE_KEYS, "a notice")
    ok = True

    def optional_text(name: str) -> str | None:
        nonlocal ok
        value = reader.optional(node, name)
        if value is None:
            return None
        if name != "css" and _looks_cut(value):
            warn_cut(reader, value, name)
        found = reader.text(value, name)
        ok = ok and found is not None
        return found

    title_node = reader.required(node, "title", key, what, "title: a short description for reports")
    if title_node is not None and _looks_cut(title_node):
        warn_cut(reader, title_node, "title")
    title = reader.text(title_node, "title") if title_node is not None else None
    legal_basis = optional_text("legal_basis")
    owner = optional_text("owner")
    css = optional_text("css")
    if css is not None and "</" in css:
        reader.error(
            node.get("css") or node,
            "bad-css",
            'The CSS contains "</", which would end the <style> element it goes into; remove it.',
        )
        ok = False
    if css is not None and re.search(r"!\s*important", css, re.I):
        reader.warning(
            node.get("css") or node,
            "css-not-amp",
            'The CSS uses "!important", which AMP pages forbid: on an AMP page the notice\'s CSS goes into the '
            "page's <style amp-custom> without it. Where the rule must win over the site's styles, use a more "
            "specific selector instead.",
        )
    source_url = optional_text("source_url")
    if source_url is not None and not _is_http_url(source_url):
        reader.error(
            node.get("source_url") or node,
            "bad-url",
            f'"{source_url}" is not a web address; "source_url" starts with https:// or http://.',
        )
        ok = False
    review_by: date | None = None
    review_node = reader.optional(node, "review_by")
    if review_node is not None:
        review_by = reader.date_value(review_node, "review_by")
        if review_by is None:
            ok = False
        elif review_by < reader.loader.today:
            reader.warning(
                review_node,
                "review-overdue",
                f'The notice "{notice_id}" was due for review by {review_by.isoformat()}; review it and move '
                '"review_by".',
            )
    text_node = reader.required(node, "text", key, what, "text: with one entry per language, such as en:")
    texts = (
        _read_language_map(reader, text_node, "text", '"en: The text of the notice."')
        if text_node is not None
        else None
    )
    default_language: str | None = None
    default_node = reader.optional(node, "default_language")
    if texts is not None:
        default_language = next(iter(texts))
        if default_node is not None:
            chosen = reader.text(default_node, "default_language")
            if chosen is None:
                ok = False
            elif chosen not in texts:
                hint = suggest(chosen, texts)
                reader.error(
                    default_node,
                    "bad-language",
                    sentences(
                        f'"default_language" is "{chosen}", but the notice has no text in "{chosen}"',
                        hint,
                        f"Its languages are {quoted_list(texts)}.",
                    ),
                )
                ok = False
            else:
                default_language = chosen
    required = read_required_languages(reader, node)
    ok = ok and required is not None
    link: Link | None = None
    link_node = reader.optional(node, "link")
    if link_node is not None:
        link = _read_link(reader, link_node, texts, default_language)
        ok = ok and link is not None
    head: tuple[HeadElement, ...] | None = ()
    head_node = reader.optional(node, "head")
    if head_node is not None:
        head = read_head(reader, head_node)
        ok = ok and head is not None
    fixed_tags, fixed_ok = read_fixed_languages(reader, node)
    fixed: tuple[str, ...] | None = ()
    if fixed_tags and texts is not None:
        fixed = resolve_fixed_languages(reader.loader.sink, reader.path, fixed_tags, texts, notice_id, None)
    if not ok or not fixed_ok or fixed is None or title is None or texts is None or default_language is None:
        return None
    assert head is not None
    return Notice(
        id=notice_id,
        title=title,
        text=MappingProxyType(texts),
        default_language=default_language,
        link=link,
        legal_basis=legal_basis,
        source_url=source_url,
        owner=owner,
        review_by=review_by,
        css=css,
        location=Location(reader.path, key.line, key.column),
        required_languages=required or (),
        languages=fixed,
        head=head,
    )


def _looks_cut(value: YamlValue) -> TypeGuard[YamlScalar]:
    """Whether a title, legal basis or owner seems to go on into a comment: `Order #2026/1234`, not `x  # a note`.

    These fields often carry a note for the next reader of the file, written as a
    comment with a space after the "#"; a "#" followed by the text itself is a number.
    """
    comment = value.comment if isinstance(value, YamlScalar) else None
    return comment is not None and comment[1:2] not in ("", " ", "\t")


def warn_cut(reader: FileReader, value: YamlScalar, field_name: str) -> None:
    """Warns that YAML read `value` without the comment that follows it on its line."""
    reader.warning(
        value,
        "text-cut-by-comment",
        f'"{field_name}" is read as "{value.value}": YAML drops "{value.comment}" after it as a comment (a "#" '
        "after a space starts one). If it is part of the text, put the whole text in quotes.",
    )


def _read_language_map(reader: FileReader, node: YamlValue, field_name: str, example: str) -> dict[str, str] | None:
    if not isinstance(node, YamlMap):
        reader.error(
            node,
            "bad-type",
            f'"{field_name}" needs one entry per language, such as {example}, not {describe(node)}.',
        )
        return None
    if not node.entries:
        reader.error(node, "empty-value", f'"{field_name}" has no languages; add one, such as {example}.')
        return None
    found: dict[str, str] = {}
    seen: dict[str, str] = {}
    ok = True
    for key, value in node.items():
        tag = key.value
        message = check_language(tag)
        if message is not None:
            reader.error(key, "bad-language", message)
            ok = False
            continue
        if tag.lower() in seen:
            reader.error(
                key,
                "duplicate-key",
                f'The language "{tag}" is given twice in "{field_name}" (also as "{seen[tag.lower()]}").',
            )
            ok = False
            continue
        seen[tag.lower()] = tag
        if isinstance(value, YamlScalar) and value.comment is not None:
            warn_cut(reader, value, f"{field_name}: {tag}")
        text = reader.text(value, f"{field_name}: {tag}") if value is not None else None
        if text is None:
            ok = False
            continue
        looks_like_markup = markup_warning(text, f"{field_name}: {tag}")
        if looks_like_markup is not None:
            reader.warning(value, "markup-in-text", looks_like_markup)
        found[tag] = text
    return found if ok else None


def _read_link(
    reader: FileReader, node: YamlValue, texts: dict[str, str] | None, default_language: str | None
) -> Link | None:
    if not isinstance(node, YamlMap):
        reader.error(
            node,
            "bad-type",
            f'"link" needs "href" and "text" indented below it, not {describe(node)}.',
        )
        return None
    reader.check_keys(node, LINK_KEYS, "a link")
    what = "The link"
    href_node = reader.required(node, "href", node, what, "href: https://example.org/page")
    href = reader.text(href_node, "href") if href_node is not None else None
    if href is not None and href_node is not None and ("\\" in href or href.startswith("//")):
        # Browsers read "\\" as "/": "/\\evil.example/x" and "//evil.example/x" lead to another site.
        reader.error(
            href_node,
            "bad-url",
            f'"{href}" would lead a browser to another site ("\\" counts as "/", and "//" starts another site\'s '
            'address): write a path on this site with "/" only, such as "/about/notices", or the full address '
            '"https://..." of the page meant.',
        )
        href = None
    elif href is not None and href_node is not None and not _is_href(href):
        reader.error(
            href_node,
            "bad-url",
            f'"{href}" is not a link address: "href" is a web address (https://...) or a path on this site '
            'starting with "/".',
        )
        href = None
    text_node = reader.required(node, "text", node, what, 'text: "To find out more, click here."')
    link_texts: dict[str, str] | None = None
    if text_node is not None:
        if isinstance(text_node, YamlScalar):
            single = reader.text(text_node, "link: text")
            if single is not None and texts is not None:
                link_texts = dict.fromkeys(texts, single)
        else:
            link_texts = _read_language_map(reader, text_node, "link: text", '{en: "To find out more."}')
            if link_texts is not None and texts is not None:
                for language in link_texts:
                    if language not in texts:
                        reader.error(
                            text_node.key(language) if isinstance(text_node, YamlMap) else text_node,
                            "bad-language",
                            f'The link has a text in "{language}", but the notice has no text in "{language}"; '
                            f"its languages are {quoted_list(texts)}.",
                        )
                        link_texts = None
                        break
                if link_texts is not None and default_language is not None and default_language not in link_texts:
                    reader.error(
                        text_node,
                        "bad-language",
                        f'The link has no text in "{default_language}", the notice\'s default language; add one.',
                    )
                    link_texts = None
    if href is None or link_texts is None:
        return None
    return Link(href=href, text=MappingProxyType(link_texts))


def merge_notices(loader: Loader) -> dict[str, NoticeDraft]:
    defined: dict[str, NoticeDraft] = {}
    kept: list[NoticeDraft] = []
    for draft in loader.notices:
        first = defined.get(draft.id)
        if first is not None:
            loader.sink.add(
                draft.path,
                draft.key.line,
                draft.key.column,
                "duplicate-id",
                f'The notice id "{draft.id}" is already used at {first.path}:{first.key.line}:'
                f"{first.key.column}; notice ids are unique across all rule files.",
            )
            continue
        defined[draft.id] = draft
        kept.append(draft)
    loader.notices = kept
    return defined


def _is_http_url(text: str) -> bool:
    try:
        parts = urlsplit(text)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.netloc) and not any(c.isspace() for c in text)


def _is_href(text: str) -> bool:
    if "\\" in text or any(ord(c) < 32 or ord(c) == 127 for c in text):
        return False
    if text.startswith("/") and not text.startswith("//"):
        return not any(c.isspace() for c in text)
    return _is_http_url(text)


def check_language(tag: str) -> str | None:
    """None for a BCP 47 tag whose language is a known ISO 639 code, else what is wrong with it."""
    if not _LANGUAGE_TAG.match(tag):
        hint = ""
        import pycountry  # (only for the hint: its import costs a worker about 25 ms)

        try:
            language = pycountry.languages.lookup(tag.strip())
        except LookupError:
            pass
        else:
            code = getattr(language, "alpha_2", None) or getattr(language, "alpha_3", "")
            hint = f'did you mean "{code}" ({language.name})?'
        return sentences(f'"{tag}" is not a language tag', hint, 'Write a BCP 47 tag such as "en", "ru" or "pt-BR".')
    primary = tag.split("-", 1)[0].lower()
    if primary not in _language_codes("alpha_2" if len(primary) == 2 else "alpha_3"):
        return (
            f'"{tag}" does not start with a known ISO 639 language code; write a BCP 47 tag such as "en", "ru" or '
            '"pt-BR".'
        )
    return None


@cache
def _language_codes(field: str) -> frozenset[str]:
    """ISO 639 codes (`alpha_2` or `alpha_3`) in lower case, as pycountry's `languages.get` finds them."""
    return frozenset(code.lower() for code in database_codes("639-3", field))


_EXAMPLE = "[ru], or [en, [be, ru]] for English and one of Belarusian or Russian"


def read_required_languages(reader: FileReader, node: YamlMap) -> tuple[tuple[str, ...], ...] | None:
    """The field's requirements (each a tuple of alternatives); () where it is absent, None where it is wrong."""
    value = reader.optional(node, "required_languages")
    if value is None:
        return ()
    if not isinstance(value, YamlList):
        reader.error(
            value,
            "bad-type",
            f'"required_languages" needs a list, such as {_EXAMPLE}; not {describe(value)}.',
        )
        return None
    found: list[tuple[str, ...]] = []
    ok = True
    for item in value:
        choices = list(item) if isinstance(item, YamlList) else [item]
        if not choices:
            reader.error(item, "empty-value", 'An entry of "required_languages" is an empty list; name a language.')
            ok = False
            continue
        tags: list[str] = []
        for choice in choices:
            if not isinstance(choice, YamlScalar) or not choice.value:
                reader.error(
                    choice,
                    "bad-type",
                    f'Each entry of "required_languages" is a language tag or a list of them, such as {_EXAMPLE}; '
                    f"not {describe(choice)}.",
                )
                ok = False
                continue
            message = check_language(choice.value)
            if message is not None:
                reader.error(choice, "bad-language", message)
                ok = False
                continue
            tags.append(choice.value)
        found.append(tuple(tags))
    return tuple(found) if ok else None
