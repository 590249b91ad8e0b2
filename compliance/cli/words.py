"""Rules in words, for `explain` and the report: placements, jurisdictions, moments, a rule's own facts."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from datetime import datetime
from functools import cache

import pycountry

from compliance.respond.plan import FEED_TYPES, HTML_TYPES, body_taker, is_json
from compliance.rules.decide import Firing
from compliance.rules.model import (
    ANONYMOUS,
    EVERYONE,
    HTML_PLACES,
    MAX_MATCHES,
    SELECTOR_PLACES,
    UNKNOWN,
    HeadElement,
    Place,
    Rule,
)
from compliance.rules.selectors import parse_selector
from compliance.rules.when import words as condition_words

__all__ = [
    "rule_facts",
    "describe_place",
    "describe_placement",
    "head_element_words",
    "jurisdiction_name",
    "moment_words",
    "body_kinds",
    "placement_applies",
]


# -- placement, in words ---------------------------------------------------------------------


def describe_place(place: Place) -> str:
    arg = place.arg or ""
    words = {
        "body-start": "at the top of the page, right after <body>",
        "body-end": "at the end of the page, right before </body>",
        "marker": f"in place of the comment <!-- {arg} --> in the page",
        "before": f"right before the first element matching {arg}",
        "after": f"right after the first element matching {arg}",
        "prepend": f"first thing inside the first element matching {arg}",
        "append": f"last thing inside the first element matching {arg}",
        "header": f"in the response header {arg} (the notice ids)",
        "json": f'in the field "{arg}" of a JSON response',
        "feed": (
            "at the top of every item of a feed (RSS, Atom or JSON Feed; at most 200 items)"
            if arg == "items"
            else "once, at the top of the feed's own description (RSS, Atom or JSON Feed)"
        ),
        "head": "its head elements, in the page's <head>: right before </head> (else right before <body>)",
    }[place.kind]
    if place.kind in SELECTOR_PLACES and _head_too(arg):
        return f"{words} ({HEAD_NEVER})"
    return words


#: What a selector's element can be that may also stand in a page's <head> (None: any type).
_IN_HEAD_TOO = frozenset({b"script", b"style", b"noscript", b"template", b"noframes", None})
HEAD_NEVER = "elements in the head are never places for a notice"


def _head_too(selector: str | None) -> bool:
    """Whether elements in a page's head could match the selector (they are passed over)."""
    parsed = parse_selector(selector or "")
    return parsed is not None and parsed.compounds[-1].tag in _IN_HEAD_TOO


def head_element_words(element: HeadElement) -> str:
    """A notice's head element as the page gets it (without its `data-legal-notice`)."""
    attributes = "".join(f" {name}" if value is None else f' {name}="{value}"' for name, value in element.attributes)
    return f"<{element.tag}{attributes}>" + ("</script>" if element.tag == "script" else "")


def describe_placement(
    placement: Sequence[Place], fallback: str = "body-end", match: str = "first", action: str = "notice"
) -> tuple[str, ...]:
    """Where a notice goes, in order of preference, with the last resort of an HTML page (`fallback`).

    For `action` remove or replace, what becomes of the element its one selector place matches.
    """
    if action in ("remove", "replace") and placement:
        which = "every element" if match == "all" else "the first element"
        most = f" (at most {MAX_MATCHES} in a page)" if match == "all" else ""
        done = "removes" if action == "remove" else "replaces"
        by = "" if action == "remove" else ", by the notice"
        body = f" in the body ({HEAD_NEVER})" if _head_too(placement[0].arg) else ""
        return (
            f"{done} {which} matching {placement[0].arg}{body}{most}, with all it holds{by};"
            " nothing where there is none",
        )
    places = [describe_place(p) for p in placement]
    if match == "all" and places:
        places[0] = places[0].replace("the first element", "each element", 1) + f" (at most {MAX_MATCHES} in a page)"
    if placement and placement[0].kind in HTML_PLACES and all(p.kind != "body-end" for p in placement):
        if fallback == "none":
            places.append("not shown, where the page has none of these places (fallback: none)")
        else:
            places.append(describe_place(Place("body-end")) + " (always the last resort)")
    return tuple(places) or (describe_place(Place("body-end")),)


def placement_applies(placement: Sequence[Place], media_type: str, kinds: Collection[str] = ()) -> str | None:
    """None where a response of `media_type` can carry this placement, else why not.

    `kinds`: the placement kinds of the rules that fire with it; where `{feed: ...}` and `{json: ...}`
    rules both fire, the response is one kind's only (`body_taker`), as the middleware serves it.
    """
    kind = placement[0].kind if placement else "body-end"
    if kind == "header":
        return None
    if kind == "json":
        if not is_json(media_type):
            return f"the response is {media_type}, which has no JSON field to carry it"
        if body_taker(media_type, "feed" in kinds, True) == "feed":
            return f"a {{feed: ...}} rule takes this {media_type} response"
        return None
    if kind == "feed":
        if media_type not in FEED_TYPES:
            return f"the response is {media_type}, which is not a feed"
        if body_taker(media_type, True, "json" in kinds) == "json":
            return f"a {{json: ...}} rule takes this {media_type} response"
        return None
    if media_type in HTML_TYPES:
        return None
    return f"the response is {media_type}, which takes no HTML notice"


def body_kinds(firings: Iterable[Firing]) -> frozenset[str]:
    """The placement kinds of the enforced notices among `firings` (what `placement_applies` takes)."""
    return frozenset(f.rule.placement[0].kind for f in firings if f.enforced and f.rule.placement)


# -- names -----------------------------------------------------------------------------------


@cache
def _subdivision_names() -> dict[str, str]:
    return {str(sub.code): str(sub.name) for sub in pycountry.subdivisions}


@cache
def jurisdiction_name(code: str) -> str:
    if code == EVERYONE:
        return "Every reader"
    if code == UNKNOWN:
        return "Readers whose country no source knows"
    if code == ANONYMOUS:
        return "Readers using Tor or an anonymizer"
    if code == "XK":
        return "Kosovo"
    if "-" in code:
        country = jurisdiction_name(code.split("-")[0])
        name = _subdivision_names().get(code)
        return f"{name}, {country}" if name else country
    found = pycountry.countries.get(alpha_2=code)
    if found is None:
        return code
    return str(getattr(found, "common_name", None) or found.name)


# -- moments and rules, in words ---------------------------------------------------------------


def moment_words(moment: datetime) -> str:
    if moment.hour == moment.minute == moment.second == 0:
        return moment.date().isoformat()
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def rule_facts(rule: Rule) -> list[str]:
    """What a rule says of itself beyond who and where: its legal basis, reference and fixed languages."""
    facts = []
    if rule.legal_basis:
        facts.append(f"legal basis: {rule.legal_basis}")
    if rule.reference:
        facts.append(f"reference: {rule.reference}")
    if rule.languages:
        facts.append(f"always in: {', '.join(rule.languages)}")
    if rule.when is not None:
        facts.append(condition_words(rule.when))
    return facts
