"""A case's verdict: what the reader got against what the case expects, as pass, fail or skip.

One answer in every mode: where the rules alone cannot know what the site would
do (the page's text, the page's own language, the status of a page that is not
blocked, whether notices share a place), the checks they can make are made, and
a case whose every checkable expectation holds is *skipped* with the reason,
never passed. End to end, what the case cannot set on the server (the moment of
the request) skips the case the same way.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from compliance.cli.cases import Case
from compliance.cli.results import Mismatch, Observed
from compliance.respond.languages import fixed_languages, languages_label, notice_languages
from compliance.rules.decide import Decision

__all__ = ["compare", "from_decision"]


def from_decision(case: Case, decision: Decision) -> Observed:
    """What the reader gets, by the decision alone (rules-only mode), as the site would choose languages."""
    request = case.request
    accept = request.header("accept-language")
    if decision.block is not None:
        notice = decision.block.notice
        language = languages_label(notice_languages(decision.block.rule, notice, None, request.page_language, accept))
        return Observed(frozenset({notice.id}), 451, ((notice.id, language),), order=(notice.id,))
    shown = [f for f in decision.fired if f.enforced and f.rule.action == "notice"]
    languages = tuple(
        (f.notice.id, languages_label(notice_languages(f.rule, f.notice, None, request.page_language, accept)))
        for f in shown
    )
    return Observed(frozenset(f.notice.id for f in shown), None, languages, order=tuple(f.notice.id for f in shown))


def _ids(ids: Iterable[str]) -> str:
    return "[" + ", ".join(sorted(ids)) + "]"


def _in_order(ids: Iterable[str]) -> str:
    return "[" + ", ".join(ids) + "]"


def compare(
    case: Case, seen: Observed, mode: str, decision: Decision, *, moment_sent: bool = False
) -> tuple[tuple[Mismatch, ...], str | None]:
    """The mismatches, and why the case is skipped (None: it is not) where nothing mismatches.

    `moment_sent`: end to end, the case's moment (`at:`) reached the site (in-process, or in a test token).
    """
    expect = case.expect
    request = case.request
    rules_only = mode == "rules"
    found: list[Mismatch] = []
    unknowable: list[str] = []
    if not rules_only and request.at is not None and not moment_sent:
        return (), (
            f"the case is set at {request.at.isoformat().replace('+00:00', 'Z')}, and a running site decides at "
            "the moment it is asked; run it against the rules alone"
        )
    if expect.notices is not None and expect.notices != seen.notices:
        found.append(Mismatch("notices", _ids(expect.notices), _ids(seen.notices)))
    missing = expect.includes - seen.notices
    if missing:
        found.append(Mismatch("notices", "including " + _ids(missing), _ids(seen.notices)))
    unwanted = expect.excludes & seen.notices
    if unwanted:
        found.append(Mismatch("notices", "none of " + _ids(expect.excludes), _ids(seen.notices)))
    if expect.order and set(expect.order) <= seen.notices:
        shown = tuple(n for n in seen.order if n in expect.order)
        if rules_only and not _share_a_place(decision, expect.order):
            unknowable.append(
                'the notices of "order" go to different places, and which the page has only the real site shows'
            )
        elif shown != expect.order:
            found.append(Mismatch("order", _in_order(expect.order), _in_order(shown)))
    elif expect.order:
        missing_order = set(expect.order) - seen.notices
        found.append(Mismatch("order", _in_order(expect.order), f"{_ids(missing_order)} not shown"))
    if expect.status is not None:
        if seen.status is None:
            # Rules only: the decision tells a block (451) from a page served as the app answers it.
            if expect.status == 451:
                found.append(Mismatch("status", "451", "no block rule fires"))
            elif expect.status != 200:
                unknowable.append(f"the status {expect.status} of a page no rule blocks is the site's to give")
        elif expect.status != seen.status:
            found.append(Mismatch("status", str(expect.status), str(seen.status)))
    if expect.language is not None:
        wrong = sorted(f"{notice} in {lang}" for notice, lang in seen.languages if lang != expect.language)
        if wrong:
            found.append(Mismatch("language", expect.language, ", ".join(wrong)))
        elif rules_only and request.page_language is None and _depends_on_page(decision):
            unknowable.append(
                "the language follows the page's own language, which the rules alone cannot see; "
                "give the request a page_language"
            )
    if not rules_only and request.page_language is not None and seen.page_language is not None:
        page = seen.page_language.lower()
        if page != request.page_language.lower() and not page.startswith(request.page_language.lower() + "-"):
            found.append(Mismatch("page language", request.page_language, seen.page_language))
    if expect.contains:
        if seen.body is None:
            unknowable.append("the page's text can be checked only against the real site (--app or --url)")
        else:
            absent = [text for text in expect.contains if text not in seen.body]
            if absent:
                found.append(
                    Mismatch(
                        "text",
                        "the page contains " + ", ".join(json.dumps(t, ensure_ascii=False) for t in absent),
                        "not found in the page",
                    )
                )
    if found:
        return tuple(found), None
    return (), ("; ".join(unknowable) if unknowable else None)


def _share_a_place(decision: Decision, ids: Iterable[str]) -> bool:
    wanted = set(ids)
    places = {f.rule.placement for f in decision.fired if f.notice.id in wanted}
    return len(places) <= 1


def _depends_on_page(decision: Decision) -> bool:
    """Whether a notice shown could be in another language on a page in another language."""
    firings = [f for f in decision.fired if f.enforced]
    if decision.block is not None:
        firings.append(decision.block)
    return any(len(f.notice.text) > 1 and not fixed_languages(f.rule, f.notice) for f in firings)
