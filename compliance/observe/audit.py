"""Audit events: one JSON object a message on the `compliance.audit` logger, at INFO.

An event says which rules fired for which jurisdiction on which page, where each
notice went, and each notice that was due but could not be placed. The client
address is never logged: at most its network (a /24 for IPv4, a /48 for IPv6).
Nothing is built unless the logger is enabled for INFO.
"""

from __future__ import annotations

import contextlib
import ipaddress
import itertools
import logging
import os
import random
import re
import time
from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from compliance.errors import ConfigError
from compliance.observe.audit_file import AuditDropped, AuditFileHandler
from compliance.observe.chain import audit_line_of, write_linked, write_prepared
from compliance.reader.jurisdiction import Jurisdiction
from compliance.respond.plan import FEED_TYPES, Plan, body_taker, is_json, language_outcome
from compliance.rules.decide import Decision
from compliance.rules.model import Rule, element_key
from compliance.rules.when import audit_labels

__all__ = [
    "AUDIT_LOGGER",
    "FAULT_LOGGER",
    "AuditPolicy",
    "Outcomes",
    "audit_enabled",
    "audit_line",
    "request_id_of",
    "block_outcomes",
    "emit",
    "emit_prepared",
    "network_of",
    "outcomes_of",
    "rule_outcomes",
]

AUDIT_LOGGER: Final = logging.getLogger("compliance.audit")
#: Faults inside the middleware (the page is served as the app sent it).
FAULT_LOGGER: Final = logging.getLogger("compliance")
#: Why a notice of a rule with `fallback: none` was not shown.
NO_PLACE_ON_PAGE: Final = "none of the rule's places is on the page, and its fallback is none"


def audit_enabled() -> bool:
    return AUDIT_LOGGER.isEnabledFor(logging.INFO)


_NETWORKS: dict[str, str | None] = {}


def network_of(ip: str | None) -> str | None:
    """The reader's network, never the address: a /24 for IPv4, a /48 for IPv6."""
    if not ip:
        return None
    found = _NETWORKS.get(ip, "")
    if found != "":
        return found
    try:
        address: ipaddress.IPv4Address | ipaddress.IPv6Address = ipaddress.ip_address(ip)
    except ValueError:
        found = None
    else:
        if address.version == 6:
            # 6to4 (2002::/16) and Teredo (2001::/32) carry the reader's IPv4 address: its /24, not a /48
            # that would be the whole address.
            assert isinstance(address, ipaddress.IPv6Address)
            embedded = address.sixtofour or (address.teredo[1] if address.teredo else None) or address.ipv4_mapped
            if embedded is not None:
                address = embedded
        prefix = 24 if address.version == 4 else 48
        found = str(
            ipaddress.ip_network(
                (int(address) >> (address.max_prefixlen - prefix) << (address.max_prefixlen - prefix), prefix)
            )
        )
    if len(_NETWORKS) >= 4096:
        _NETWORKS.clear()
    _NETWORKS[ip] = found
    return found


_REQUEST_ID: Final = re.compile(r"[A-Za-z0-9._:/+=@-]{1,128}")


def request_id_of(value: str | None) -> str:
    """The client's request id where it is a short token of safe characters; a fresh one otherwise."""
    if value is not None and _REQUEST_ID.fullmatch(value):
        return value
    return f"{_ID_PREFIX}{next(_ids):016x}"


def _new_ids() -> None:
    """A fresh prefix for generated request ids: in each process, and again in a forked child."""
    global _ID_PREFIX, _ids
    _ID_PREFIX, _ids = os.urandom(8).hex(), itertools.count(1)


# A generated request id is 32 hex digits, as uuid4().hex: 16 random ones drawn once per process, then
# the process's count of generated ids. Unique across workers and restarts as long as no two
# processes draw the same 64 random bits, at a tenth of drawing 128 random bits per request.
_ID_PREFIX = ""
_ids = itertools.count(1)
_new_ids()
os.register_at_fork(after_in_child=_new_ids)


def jurisdiction_fields(j: Jurisdiction) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "country": j.country,
        "subdivision": j.subdivision,
        "anonymous": j.anonymous,
        "source": j.source,
    }
    if j.kinds:
        fields["anonymity"] = sorted(j.kinds)
    return fields


_reported_failure = False


def emit(event: str, fields: Mapping[str, Any], same: Hashable = None) -> None:
    """Writes one event. A logging handler or filter that raises never reaches the response:
    it is reported once on the `compliance` logger, and the chain links past the lost event.

    `same`, where given, is equal for two events only where all their fields but `time`,
    `request_id` and `path` are: their line is then filled into the first one's template."""
    record = {"event": event, "time": round(time.time(), 3), **fields}
    try:
        write_linked(record, _write, same)
    except AuditDropped:
        pass  # the handler counts it, and records the gap in the chain as soon as it has room
    except Exception:
        _report_failure()


def emit_prepared(
    event: str,
    same: Hashable,
    request_id: str,
    path: str,
    network: str | None,
    fields: Callable[[], dict[str, Any]],
) -> None:
    """`emit(event, fields(), same)`, where the recommended handler is alone on the audit logger: from the
    template kept for `same` (see `chain.write_prepared`), the line handed straight to the handler, and
    `fields` called only the first time. `request_id` is one `request_id_of` gave, `network` one
    `network_of` gave; `same` stands for every other field."""
    handler = _direct_handler()
    if handler is None:
        emit(event, fields(), (same, network))  # (`emit`'s templates key on every field but three)
        return

    def build() -> dict[str, Any]:
        return {"event": event, "time": 0.0, **fields()}

    try:
        write_prepared(same, build, request_id, path, network, handler.put, _write)
    except AuditDropped:
        pass  # the handler counts it, and records the gap in the chain as soon as it has room
    except Exception:
        _report_failure()


def _report_failure() -> None:
    global _reported_failure
    if not _reported_failure:
        _reported_failure = True
        with contextlib.suppress(Exception):
            FAULT_LOGGER.exception(
                "compliance: writing an audit event failed in a logging handler; the response went out, "
                "the event is lost (reported once)"
            )


def _direct_handler() -> AuditFileHandler | None:
    """The recommended handler where it is alone on the audit logger (which neither filters nor propagates)."""
    logger = AUDIT_LOGGER
    handlers = logger.handlers
    if len(handlers) == 1 and not logger.propagate and not logger.filters:
        handler = handlers[0]
        if type(handler) is AuditFileHandler and not handler.filters and handler.level <= logging.INFO:
            return handler
    return None


def audit_line(record: Mapping[str, Any]) -> str:
    """The event as one JSON line: no character in it that any line splitter reads as a line end."""
    return audit_line_of(record)


def _write(record: Mapping[str, Any], line: str) -> None:
    # The event as a message (one JSON line) and as structured data (`record.compliance`),
    # so a JSON formatter or an OpenTelemetry handler keeps the fields. What `Logger.info` does,
    # less looking up the caller's frame: the record names this function.
    logger = AUDIT_LOGGER
    if logger.isEnabledFor(logging.INFO):
        handler = _direct_handler()
        if handler is not None:
            # The recommended handler, alone: it takes the line itself, no `LogRecord` is made.
            handler.put(line)
            return
        extra = {"compliance": dict(record)}
        logger.handle(
            logger.makeRecord(logger.name, logging.INFO, __file__, _WRITE_LINE, line, (), None, "_write", extra)
        )


_WRITE_LINE: Final = _write.__code__.co_firstlineno


@dataclass(frozen=True, slots=True)
class AuditPolicy:
    """How many audit events to write: the volume control.

    A response where some rule fired (enforced or report-only) always gets its
    event: that is the evidence. A response on a covered path where no rule fired
    gets one with the probability `sample_unfired` (0: never, the default; 1:
    always); such an event carries `"sample": sample_unfired`, so a count of them
    can be scaled back up. Responses on paths no rule covers never get one.
    """

    sample_unfired: float = 0.0

    def __post_init__(self) -> None:
        rate = self.sample_unfired
        if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0.0 <= rate <= 1.0:
            raise ConfigError(f"audit sample_unfired must be a number from 0 to 1, not {rate!r}")

    def wants(self, fired: bool) -> bool:
        """Whether this response gets an event (`fired`: some rule fired for it)."""
        if fired:
            return True
        rate = self.sample_unfired
        return rate >= 1.0 or (rate > 0.0 and random.random() < rate)


class Outcomes:
    """What the audit event says of a response's rules (`rule_outcomes`), and the metrics' labels of them.

    Kept per plan and outcome (`outcomes_of`) and shared by the responses that have them: never changed.
    """

    __slots__ = ("rules", "_pairs", "_labels")

    def __init__(self, rules: list[dict[str, Any]]) -> None:
        self.rules = rules
        self._pairs = tuple((entry["rule"], entry["outcome"]) for entry in rules)
        self._labels: dict[str, tuple[tuple[str, str, str], ...]] = {}

    def labels(self, where: str) -> tuple[tuple[str, str, str], ...]:
        """(rule id, jurisdiction code, outcome) of each rule, for the reader's jurisdiction code `where`."""
        found = self._labels.get(where)
        if found is None:
            if len(self._labels) >= 256:
                self._labels.clear()
            found = self._labels[where] = tuple((rule, where, outcome) for rule, outcome in self._pairs)
        return found


def outcomes_of(
    kept: dict[Hashable, Outcomes],
    plan: Plan,
    known_outcomes: Mapping[str, Mapping[str, Any]],
    placed_notices: Iterable[Any],
    media: str,
    missed: str | None,
    reason: str | None,
) -> Outcomes:
    """`rule_outcomes` (same arguments), built once per plan and outcome and kept in `kept`.

    The key holds what `rule_outcomes` reads: the plan's fired rules (`plan.fired`, one object for
    every decision that fires the same ones, whatever the page), the media type, `missed`, `reason`,
    the values it reads of `known_outcomes`, and the placements.
    """
    placed = tuple(placed_notices)
    known = tuple(
        (
            notice,
            entry.get("language"),
            tuple(entry.get("languages") or ()),
            entry.get("outcome"),
            entry.get("place"),
        )
        for notice, entry in known_outcomes.items()
    )
    key = (plan.fired, media, missed, reason, known, placed)
    try:
        found = kept.get(key)
    except TypeError:  # a placement that cannot be a key: built for this response alone
        return Outcomes(rule_outcomes(plan, known_outcomes, placed, media, missed, reason))
    if found is not None:
        return found
    found = Outcomes(rule_outcomes(plan, known_outcomes, placed, media, missed, reason))
    if len(kept) >= 4096:
        kept.clear()
    kept[key] = found
    return found


def rule_outcomes(
    plan: Plan,
    known_outcomes: Mapping[str, Mapping[str, Any]],
    placed_notices: Iterable[Any],
    media: str,
    missed: str | None,
    reason: str | None,
) -> list[dict[str, Any]]:
    """What the audit event says of each fired rule of one response.

    `known_outcomes` is what the responder learnt per notice (language, header
    place); `placed_notices` what the body transform placed (each with `key`,
    `place`, `fallback`); `missed` why the body was left as it was, "" for: nothing
    to do; `reason` the transform's own word on a notice it could not place.
    """
    placed = {p.key: p for p in placed_notices}
    html_due, json_due = plan.html_due, plan.json_due
    body_due = {f.notice.id for f in html_due} | {f.notice.id for fs in json_due.values() for f in fs}
    taken: dict[str, str] = {}  # notice -> why the other kind of rule's placement takes this body
    if plan.feed_due and media in FEED_TYPES:  # a feed rule is due in a feed's body only
        feed_ids = {f.notice.id for f in plan.feed_firings}
        json_ids = {f.notice.id for f in plan.json_firings}
        taker = body_taker(media, True, bool(json_ids))
        if taker == "feed":  # the JSON rules are not due in it
            why = f"a {{feed: ...}} rule takes this {media} response" if is_json(media) else f"content type {media}"
            taken = dict.fromkeys(json_ids - feed_ids, why)
            body_due = (body_due - taken.keys()) | feed_ids
        else:  # a plain JSON response, the JSON rules'
            taken = dict.fromkeys(feed_ids - body_due, f"a {{json: ...}} rule takes this {media} response")
    rules = []
    for firing in plan.decision.fired:
        notice_id = firing.notice.id
        known = known_outcomes.get(notice_id, {})
        entry: dict[str, Any] = {"rule": firing.rule.id, "notice": notice_id, "mode": firing.rule.mode}
        if not notice_id:  # a rule that takes elements out and names no notice
            del entry["notice"]
        entry.update(rule_basis(firing.rule))
        if firing.rule.when is not None:
            # The rule fired, so its condition held: the audit names what it read (never a cookie's value).
            entry["when"] = audit_labels(firing.rule.when)
        entry.update((k, v) for k, v in known.items() if k in ("language", "languages"))
        if not firing.enforced:
            entry["outcome"] = "report-only"
        elif known.get("outcome") == "injected":
            entry.update(outcome="injected", place=known["place"])
        elif notice_id not in body_due:
            entry.update(outcome="not-applicable", why=taken.get(notice_id) or f"content type {media or '(none)'}")
        elif missed is not None:
            entry.update(outcome="missed" if missed else "not-applicable", why=missed or "no body")
        elif firing.rule.action in ("remove", "replace"):
            entry.update(_element_outcome(firing.rule, placed.get(element_key(firing.rule.id)), reason))
        elif notice_id in placed and getattr(placed[notice_id], "inapplicable", None):
            entry.update(outcome="not-applicable", why=placed[notice_id].inapplicable)
        elif notice_id in placed and getattr(placed[notice_id], "missed", False):
            entry.update(outcome="missed", why=getattr(placed[notice_id], "why", None) or NO_PLACE_ON_PAGE)
        elif notice_id in placed:
            where = placed[notice_id]
            entry["outcome"] = "fallback" if where.fallback else "injected"
            entry["place"] = str(where.place or "end-of-document")
            count = getattr(where, "count", 0)  # `match: all` in an HTML page, the items of a feed
            if count:
                entry["count"] = count
        else:
            entry.update(outcome="missed", why=reason or "no place found")
        rules.append(entry)
    return rules


#: Why a rule that removes or replaces elements did nothing.
NO_ELEMENT: Final = "no element on the page matches the rule's selector"
#: Why one it matched was left in the page (see `compliance.respond.matcher.MAX_DEPTH`).
GAVE_UP: Final = "an element matched, but holds elements nested too deep to find its end; it was left in the page"


def _element_outcome(rule: Rule, where: Any, reason: str | None) -> dict[str, Any]:
    """What a rule that removes or replaces elements did: `removed`/`replaced` with how many, or why not."""
    if where is None:
        return {"outcome": "missed", "why": reason or "no place found"}
    if getattr(where, "missed", False):
        return {"outcome": "not-applicable", "why": NO_ELEMENT}
    if where.place is None:
        return {"outcome": "missed", "why": GAVE_UP}
    done = "removed" if rule.action == "remove" else "replaced"
    return {"outcome": done, "place": str(where.place), "count": getattr(where, "count", 0) or 1}


def rule_basis(rule: Rule) -> dict[str, str]:
    """The rule's own legal basis and reference, where it gives them (a court order's number, say)."""
    found: dict[str, str] = {}
    if rule.legal_basis is not None:
        found["legal_basis"] = rule.legal_basis
    if rule.reference is not None:
        found["reference"] = rule.reference
    return found


def block_outcomes(decision: Decision, languages: tuple[str, ...]) -> list[dict[str, Any]]:
    """What the audit event says of a blocked page: the block, and every notice it made moot."""
    assert decision.block is not None
    notice = decision.block.notice
    rules = [
        {
            "rule": decision.block.rule.id,
            "notice": notice.id,
            "mode": "enforce",
            **rule_basis(decision.block.rule),
            **language_outcome(languages),
            "outcome": "blocked",
        },
        *(
            {
                "rule": f.rule.id,
                "notice": f.notice.id,
                "mode": f.rule.mode,
                "outcome": "not-applicable",
                "why": "the page is blocked",
            }
            for f in decision.fired
        ),
    ]
    return rules
