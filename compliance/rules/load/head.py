"""A notice's `head`: the `<meta>`, `<link>` and `<script src>` elements it adds to a page's `<head>`.

Each element is a mapping of one key, its kind, holding its attributes. Never raw HTML:
each attribute is checked here and escaped when rendered (`compliance.respond.head`).
A script loads over https only and carries an `integrity` hash (Subresource Integrity),
so that what runs in the readers' browsers is exactly what the legal team reviewed.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Final, Literal
from urllib.parse import urlsplit

from compliance.rules.load.messages import Sink, describe, quoted_list, sentences, suggest
from compliance.rules.load.state import NoticeDraft, RuleDraft
from compliance.rules.load.values import FileReader
from compliance.rules.model import HeadElement
from compliance.rules.yamlstrict import YamlList, YamlMap, YamlValue

__all__ = ["HEAD_KINDS", "check_head_placement", "read_head"]

HEAD_KINDS: Final = ("meta", "link", "script")
_KEYS: Final = {
    "meta": ("name", "content"),
    "link": ("rel", "href", "hreflang", "type", "title"),
    "script": ("src", "integrity", "crossorigin", "async", "defer"),
}
_REQUIRED: Final = {"meta": ("name", "content"), "link": ("rel", "href"), "script": ("src", "integrity")}
_EXAMPLE: Final = (
    "- script: {src: https://cdn.example.net/consent.js, integrity: sha384-...}, "
    "- meta: {name: ..., content: ...} or - link: {rel: ..., href: https://...}"
)
_META_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]*\Z")
_REL = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]*(?: +[A-Za-z0-9][A-Za-z0-9._:-]*)*\Z")
_TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+/-]*\Z")
#: Link relations that load something into the page (styles, scripts, other documents).
_LOADING_RELS: Final = frozenset(
    {"stylesheet", "preload", "modulepreload", "prefetch", "prerender", "import", "manifest", "serviceworker"}
)
#: Subresource Integrity: each hash's length in bytes.
_HASH_SIZES: Final = {"sha256": 32, "sha384": 48, "sha512": 64}
_CROSSORIGIN: Final = ("anonymous", "use-credentials")
_FLAGS: Final = ("true", "false")


def read_head(reader: FileReader, node: YamlValue) -> tuple[HeadElement, ...] | None:
    """The `head` field of a notice: its elements in order, or None where one is wrong (each error reported)."""
    if not isinstance(node, YamlList) or not node.items:
        reader.error(
            node,
            "bad-head",
            f'"head" needs a list of elements, such as {_EXAMPLE}; not {describe(node)}.'
            if not isinstance(node, YamlList)
            else f'"head" is an empty list; give at least one element, such as {_EXAMPLE}.',
        )
        return None
    elements: list[HeadElement] = []
    for item in node:
        element = _read_element(reader, item)
        if element is not None:
            elements.append(element)
    return tuple(elements) if len(elements) == len(node.items) else None


def _read_element(reader: FileReader, node: YamlValue) -> HeadElement | None:
    if not isinstance(node, YamlMap) or len(node.entries) != 1:
        reader.error(
            node,
            "bad-head",
            f'Each element of "head" is a mapping of one key, its kind ({quoted_list(HEAD_KINDS)}), holding its '
            f"attributes, such as {_EXAMPLE}; not {describe(node)}.",
        )
        return None
    key, value = next(node.items())
    kind = key.value
    if kind not in _KEYS:
        hint = suggest(kind, HEAD_KINDS)
        reader.error(
            key,
            "bad-head",
            sentences(
                f'"{kind}" is not an element a notice can add to the page\'s <head>',
                hint,
                f"A notice adds {quoted_list(HEAD_KINDS)} elements only, never raw HTML.",
            ),
        )
        return None
    if not isinstance(value, YamlMap):
        reader.error(value, "bad-head", f'"{kind}" needs its attributes indented below it, not {describe(value)}.')
        return None
    reader.check_keys(value, _KEYS[kind], f"a {kind} element")
    if any(k.value not in _KEYS[kind] for k, _ in value.items()):
        return None
    found: dict[str, tuple[YamlValue, str]] = {}
    ok = True
    for name in _KEYS[kind]:
        at = reader.optional(value, name)
        if at is None:
            if name in _REQUIRED[kind]:
                reader.error(
                    value.key(name) if name in value else key,
                    "missing-field",
                    f'The {kind} element has no "{name}"; it needs one.',
                )
                ok = False
            continue
        text = reader.text(at, f"{kind}: {name}")
        if text is None:
            ok = False
            continue
        problem = _check(kind, name, text.strip())
        if problem is not None:
            reader.error(at, "bad-integrity" if name == "integrity" else "bad-head", problem)
            ok = False
            continue
        found[name] = (at, text.strip())
    if not ok:
        return None
    attributes: list[tuple[str, str | None]] = []
    for name in _KEYS[kind]:
        if name not in found:
            if kind == "script" and name == "crossorigin":
                attributes.append(("crossorigin", "anonymous"))  # what an integrity check on another site needs
            continue
        text = found[name][1]
        if name in ("async", "defer"):
            if text == "true":
                attributes.append((name, None))
            continue
        attributes.append((name, text))
    tag: Literal["meta", "link", "script"] = "meta" if kind == "meta" else "link" if kind == "link" else "script"
    return HeadElement(tag, tuple(attributes))


def _check(kind: str, name: str, text: str) -> str | None:
    """What is wrong with this attribute's value, or None."""
    if any(ord(c) < 32 or ord(c) == 127 for c in text) and name != "content":
        return f'"{kind}: {name}" holds a control character; write it on one line, without them.'
    if name == "src":
        return _check_src(text)
    if name == "integrity":
        return _check_integrity(text)
    if name == "href":
        return _check_href(text)
    if name == "name" and not _META_NAME.match(text):
        return f'"{text}" is not a meta name: use letters, digits, ".", ":", "_" and "-", such as "consent-policy".'
    if name == "rel":
        if not _REL.match(text):
            return f'"{text}" is not a link relation: one or more words such as "privacy-policy" or "license".'
        loading = sorted(set(text.lower().split()) & _LOADING_RELS)
        if loading:
            return (
                f'A link with rel "{loading[0]}" loads something into the page, which a notice may not do that way: '
                "write styles in the notice's css, and a script as a script element with its integrity hash."
            )
    if name in ("hreflang", "type") and not _TOKEN.match(text):
        return f'"{text}" is not a valid "{name}" value, such as "en" or "text/html".'
    if name == "crossorigin" and text not in _CROSSORIGIN:
        return f'"crossorigin" is {quoted_list(_CROSSORIGIN)}, not "{text}".'
    if name in ("async", "defer") and text not in _FLAGS:
        return f'"{name}" is true or false, not "{text}".'
    return None


def _check_src(text: str) -> str | None:
    try:
        parts = urlsplit(text)
    except ValueError:
        parts = None
    if parts is not None and parts.scheme.lower() == "http":
        return (
            f'The script "{text}" would load over http, where anyone on the way can change it; load it over '
            "https (https://...)."
        )
    if parts is None or parts.scheme != "https" or not parts.hostname or any(c.isspace() or c == "\\" for c in text):
        return (
            f'"{text}" is not a script address: "src" is a full https:// address, such as https://cdn.example.net/x.js.'
        )
    return None


def _check_integrity(text: str) -> str | None:
    example = (
        'such as "sha384-" followed by the file\'s SHA-384 hash in base64 (openssl dgst -sha384 -binary FILE | base64)'
    )
    tokens = text.split()
    for token in tokens:
        algorithm, _, digest = token.partition("-")
        size = _HASH_SIZES.get(algorithm)
        if size is None:
            return f'"{token}" is not an integrity hash: it starts with sha256-, sha384- or sha512-, {example}.'
        try:
            decoded = base64.b64decode(digest, validate=True)
        except (binascii.Error, ValueError):
            decoded = b""
        if len(decoded) != size:
            return (
                f'"{token}" is not a well-formed {algorithm} hash: it needs {size} bytes in base64 '
                f"({4 * ((size + 2) // 3)} characters); copy it again from the script's publisher, {example}."
            )
    return None


def _check_href(text: str) -> str | None:
    if "\\" in text or text.startswith("//") or any(c.isspace() for c in text):
        return (
            f'"{text}" would lead a browser elsewhere than it says: write a path on this site with "/" only, or the '
            "full address https://..."
        )
    if text.startswith("/"):
        return None
    try:
        parts = urlsplit(text)
    except ValueError:
        parts = None
    if parts is None or parts.scheme != "https" or not parts.hostname:
        return (
            f'"{text}" is not a link address: "href" is an https:// address, or a path on this site starting with "/".'
        )
    return None


def check_head_placement(sink: Sink, draft: RuleDraft, notice: NoticeDraft) -> bool:
    """Whether a rule's placement and its notice agree on `head`; where not, the error goes to `sink`."""
    assert notice.notice is not None
    if draft.action == "block":
        return True
    in_head = False
    for place in draft.placement:  # (a loop, not `any`: no generator per rule)
        if place.kind == "head":
            in_head = True
            break
    if not in_head and not notice.notice.head:
        return True  # (most rules: a body place, and a notice without head elements)
    at: YamlValue = draft.node.get("placement") or draft.node
    problem: str | None = None
    if in_head and not notice.notice.head:
        problem = (
            f'"placement: head" puts the notice\'s head elements in the page\'s <head>, but the notice "{notice.id}" '
            'has none; give it a "head" list of meta, link or script elements, or choose a place in the body.'
        )
    elif not in_head and notice.notice.head:
        problem = (
            f'The notice "{notice.id}" carries head elements, which go in the page\'s <head> only; write '
            '"placement: head" on this rule (a notice shown in the body is a notice of its own, without "head").'
        )
    elif in_head and draft.form != "auto":
        at = draft.node.get("form") or at
        problem = '"form" chooses how a notice is shown in the body; a "head" placement shows nothing. Remove it.'
    if problem is None:
        return True
    sink.add(draft.path, at.line, at.column, "bad-placement", problem, "error", draft.name)
    return False
