"""Merging the rules of every file: unique ids, known notices, jurisdictions expanded, rule-set wide checks."""

from __future__ import annotations

from datetime import UTC, datetime, time
from typing import Final

from compliance.rules.load.groups import check_jurisdiction
from compliance.rules.load.head import check_head_placement
from compliance.rules.load.languages import resolve_fixed_languages
from compliance.rules.load.messages import moment_words, quoted_list, rule_name, sentences, suggest
from compliance.rules.load.state import ALWAYS, Loader, NoticeDraft, Period, RuleDraft
from compliance.rules.model import DatedCode, DatedCodes, Location, Rule, new_rule, quick_constructor

__all__ = ["merge_rules"]


#: `Location(...)`, made as fast as a plain class's (one per rule).
_new_location: Final = quick_constructor(Location)


def merge_rules(loader: Loader, groups: dict[str, frozenset[str]], notices: dict[str, NoticeDraft]) -> list[Rule]:
    seen: dict[str, RuleDraft] = {}
    rules: list[Rule] = []
    defined_groups = loader.defined_groups
    today = datetime.combine(loader.today, time(0), UTC)
    # Rules repeat their jurisdictions ("[RU]", "["@EU"]"): each word is checked, and each list
    # expanded, once (a word that is not known is checked, and reported, wherever it is written).
    known_words: set[str] = set()
    expansions: dict[tuple[bool, tuple[str, ...]], tuple[frozenset[str], list[DatedCode]]] = {}
    # Rules with the same dated members share one `DatedCodes` (and what `Rule.at` works out from it).
    shared: dict[tuple[tuple[bool, tuple[str, ...]], ...], DatedCodes] = {}
    for draft in loader.rules:
        if draft.id is not None:
            first = seen.get(draft.id)
            if first is not None:
                id_node = draft.node.get("id")
                at = id_node if id_node is not None else draft.node
                first_at = first.node.get("id") or first.node
                loader.sink.add(
                    draft.path,
                    at.line,
                    at.column,
                    "duplicate-id",
                    f'The rule id "{draft.id}" is already used at {first.path}:{first_at.line}:'
                    f"{first_at.column}; rule ids are unique across all rule files.",
                    rule_id=draft.name,
                )
                draft.valid = False
            else:
                seen[draft.id] = draft
        if draft.notice is not None and draft.notice.value not in notices:
            hint = suggest(draft.notice.value, notices)
            known = f" The notices are: {quoted_list(notices)}." if notices and not hint else ""
            loader.sink.add(
                draft.path,
                draft.notice.line,
                draft.notice.column,
                "unknown-notice",
                sentences(
                    f'There is no notice "{draft.notice.value}" in the rule set',
                    hint,
                    f'A rule names the id of a notice defined under "notices:".{known}',
                ),
                rule_id=draft.name,
            )
            draft.valid = False
        written: list[tuple[str, ...]] = []
        expanded: list[frozenset[str]] = []
        dated: tuple[DatedCode, ...] = ()
        dated_from: list[tuple[bool, tuple[str, ...]]] = []
        for excepted, members in ((False, draft.jurisdictions), (True, draft.except_jurisdictions)):
            words = tuple([member.value for member in members])
            for member in members:
                if member.value not in known_words:
                    if check_jurisdiction(loader.sink, draft.path, member, defined_groups, draft.name):
                        known_words.add(member.value)
                    else:
                        draft.valid = False
            if not draft.valid:
                continue  # the rule is left out: nothing to expand
            expansion = expansions.get((excepted, words))
            if expansion is None:
                expansion = expansions[excepted, words] = _expand(loader, words, excepted)
            written.append(words)
            expanded.append(expansion[0])
            if expansion[1]:
                dated_from.append((excepted, words))
        if dated_from and draft.valid:
            key = tuple(dated_from)
            dated = shared.get(key, ())
            if not dated:
                dated = shared[key] = DatedCodes(code for which in dated_from for code in expansions[which][1])
        if draft.until is not None and draft.until <= today:
            at_until = draft.until_node or draft.node
            loader.sink.add(
                draft.path,
                at_until.line,
                at_until.column,
                "rule-expired",
                f'{rule_name(draft.name)} ended at {moment_words(draft.until)} ("until") and no longer applies; '
                'remove the rule, or move "until" if it should still apply.',
                "warning",
                draft.name,
            )
        fixed: tuple[str, ...] | None = ()
        notice_draft = notices.get(draft.notice.value) if draft.notice is not None else None
        if draft.languages and notice_draft is not None and notice_draft.notice is not None:
            fixed = resolve_fixed_languages(
                loader.sink, draft.path, draft.languages, notice_draft.notice.text, notice_draft.id, draft.name
            )
        if draft.valid and notice_draft is not None and notice_draft.notice is not None:
            draft.valid = check_head_placement(loader.sink, draft, notice_draft)
        if not draft.valid or fixed is None or draft.id is None:
            continue
        rules.append(
            new_rule(
                id=draft.id,
                notice="" if draft.notice is None else draft.notice.value,
                jurisdictions=expanded[0],
                except_jurisdictions=expanded[1],
                paths=draft.paths,
                except_paths=draft.except_paths,
                hosts=draft.hosts,
                placement=draft.placement,
                action=draft.action,
                start=draft.start,
                until=draft.until,
                priority=draft.priority,
                mode=draft.mode,
                form=draft.form,
                fallback=draft.fallback,
                match=draft.match,
                when=draft.when,
                location=_new_location(draft.path, draft.node.line, draft.node.column),
                jurisdictions_written=written[0],
                except_jurisdictions_written=written[1],
                required_languages=draft.required_languages,
                legal_basis=draft.legal_basis,
                reference=draft.reference,
                languages=fixed,
                dated=dated,
            )
        )
    return rules


def _expand(loader: Loader, words: tuple[str, ...], excepted: bool) -> tuple[frozenset[str], list[DatedCode]]:
    """The codes named throughout by `words` (known codes and groups), and those named for a while only."""
    for word in words:
        if word.startswith("@"):
            break
    else:  # codes and keywords only, as most rules name
        return frozenset(words), []
    codes: set[str] = set()
    timed: dict[str, list[Period]] = {}
    for word in words:
        if not word.startswith("@"):
            codes.add(word)
            continue
        for code, periods in loader.group_periods.get(word[1:], {}).items():
            if ALWAYS in periods:
                codes.add(code)
            else:
                timed.setdefault(code, []).extend(periods)
    dated = [
        DatedCode(code, start, until, excepted)
        for code, periods in sorted(timed.items())
        if code not in codes
        for start, until in dict.fromkeys(periods)
    ]
    return frozenset(codes), dated
