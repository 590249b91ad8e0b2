"""A case's verdict: what the reader got against what the case expects, as pass, fail or skip.

One answer in every mode: where the rules alone cannot know what the site would
do (the page's text, the page's own language, the status of a page that is not
blocked, whether notices share a place), the checks they can make are made, and
a case whose every checkable expectation holds is *skipped* with the reason,
never passed. End to end, what the case cannot set on the server (the moment of
the request) skips the case the same way.

`judge` gives each case of a run its verdict (`compliance test`, the pytest
plugin); `run_rules_only` runs case files against the rules alone (the report).
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from compliance.cli import output
from compliance.cli.cases import Case, check_notices, load_cases
from compliance.cli.results import CaseResult, Mismatch, Observed, TestRun
from compliance.cli.words import body_kinds, placement_applies
from compliance.errors import ConfigError
from compliance.reader.jurisdiction import Jurisdiction, given_jurisdiction
from compliance.reader.resolve import JurisdictionResolver
from compliance.respond.languages import fixed_languages, languages_label, notice_languages
from compliance.rules.decide import Decision, Engine
from compliance.rules.model import RuleSet
from compliance.rules.when import raw_headers

__all__ = ["compare", "from_decision", "judge", "run_rules_only"]


def from_decision(case: Case, decision: Decision) -> Observed:
    """What the reader gets, by the decision alone (rules-only mode), as the site would choose languages."""
    request = case.request
    accept = request.header("accept-language")
    if decision.block is not None:
        notice = decision.block.notice
        language = languages_label(notice_languages(decision.block.rule, notice, None, request.page_language, accept))
        return Observed(frozenset({notice.id}), 451, ((notice.id, language),), order=(notice.id,))
    # A notice shows where the response can carry its place: the rules alone assume an HTML page
    # unless the case gives the response's type.
    media = request.content_type or "text/html"
    kinds = body_kinds(decision.fired)
    shown = [
        f
        for f in decision.fired
        if f.enforced
        and f.rule.action in ("notice", "replace")
        and placement_applies(f.rule.placement, media, kinds) is None
    ]
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
    if expect.lacks:
        if seen.body is None:
            unknowable.append("what the page lacks can be checked only against the real site (--app or --url)")
        else:
            present = [text for text in expect.lacks if text in seen.body]
            if present:
                found.append(
                    Mismatch(
                        "text",
                        "the page lacks " + ", ".join(json.dumps(t, ensure_ascii=False) for t in present),
                        "found in the page",
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


# -- each case's verdict, in any mode ------------------------------------------------------------


def judge(
    engine: Engine,
    resolver: JurisdictionResolver,
    cases: list[Case],
    observed: list[Observed | None],
    mode: str,
    now: float,
    unhonoured: set[int] | frozenset[int] = frozenset(),
) -> list[CaseResult]:
    """Each case's verdict: what was seen (None: what the rules decide) against what it expects.

    `unhonoured` holds the indexes of the cases whose test token the server did not honour.
    """
    results = []
    for index, (case, seen) in enumerate(zip(cases, observed, strict=True)):
        jurisdiction = _jurisdiction(case, resolver)
        at = case.request.at.timestamp() if case.request.at is not None else now
        decision = engine.decide(jurisdiction, case.request.host or "", case.request.route, at)
        if decision.vary:
            # Rules with `when:`: the case's own headers (Accept-Language, Sec-GPC, Cookie...) decide.
            decision = engine.narrow(decision, raw_headers(case.request.headers))
        if seen is None:
            seen = from_decision(case, decision)
        if index in unhonoured:
            # The page says nothing of the reader it was decided for: no verdict can rest on it.
            mismatch = Mismatch("test token", "honoured by the server", _NOT_HONOURED)
            results.append(CaseResult(case, (mismatch,), seen, _fired(decision)))
            continue
        moment_sent = mode == "app" or (mode == "url" and case.request.ip is None)
        mismatches, skipped = compare(case, seen, mode, decision, moment_sent=moment_sent)
        results.append(CaseResult(case, mismatches, seen, _fired(decision), skipped))
    return results


def run_rules_only(ruleset: RuleSet, case_paths: list[str], geoip_db: str | None, now: float) -> TestRun:
    """The case files run against the rules alone (for the report); ValueError says why they cannot run."""
    cases, problems, _ = load_cases(case_paths)
    problems += check_notices(cases, ruleset.notices)
    errors = [p for p in problems if p.severity == "error"]
    if errors:
        raise ValueError(output.problems_text(errors) + f"the case files have {output.plural(len(errors), 'error')}")
    if not cases:
        raise ValueError("the case files hold no cases")
    try:
        resolver = JurisdictionResolver(geoip_db=geoip_db)
    except ConfigError as error:
        raise ValueError(str(error)) from None
    try:
        results = judge(Engine(ruleset), resolver, cases, [None] * len(cases), "rules", now)
    finally:
        resolver.close()
    return TestRun("rules", ", ".join(case_paths), tuple(results), ruleset.rules)


_NOT_HONOURED = (
    "not honoured (no Compliance-Test: honoured in the response): the secret is wrong, the server has no "
    "test_secret, or something between strips the Compliance-Test-Jurisdiction header"
)


def _jurisdiction(case: Case, resolver: JurisdictionResolver) -> Jurisdiction:
    request = case.request
    if request.ip is not None:
        return resolver.resolve_ip(request.ip)
    return given_jurisdiction(request.country, request.subdivision, request.anonymity)


def _fired(decision: Decision) -> tuple[str, ...]:
    ids = [f.rule.id for f in decision.fired]
    if decision.block is not None:
        ids.append(decision.block.rule.id)
    return tuple(ids)
