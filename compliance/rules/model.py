"""The loaded rule set: frozen values, built once per load by `load/`.

Everything here is already checked and normalised: group references are expanded,
codes are upper case, dates are timezone-aware UTC datetimes, path patterns are
compiled. Nothing here does I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import MISSING, dataclass, field, fields, replace
from datetime import date, datetime
from operator import attrgetter
from typing import Any, Final, Literal, Protocol, TypeVar

from compliance.errors import Problem

__all__ = [
    "ANONYMITY_KINDS",
    "ANONYMOUS",
    "BLOCK_POLICIES",
    "Condition",
    "UNIDENTIFIED",
    "EVERYONE",
    "HTML_PLACES",
    "MAX_MATCHES",
    "SELECTOR_PLACES",
    "UNKNOWN",
    "DatedCode",
    "DatedCodes",
    "HeadElement",
    "element_key",
    "new_rule",
    "notice_of",
    "Link",
    "Location",
    "Notice",
    "PathMatcher",
    "PathPattern",
    "place_family",
    "quick_constructor",
    "Place",
    "Rule",
    "RuleSet",
]

_T = TypeVar("_T")

#: Jurisdiction keywords a rule may name besides codes and groups.
UNKNOWN: Final = "unknown"
ANONYMOUS: Final = "anonymous"
EVERYONE: Final = "*"
#: Kinds of anonymity, each a jurisdiction a rule may name (`compliance.reader.jurisdiction`).
ANONYMITY_KINDS: Final = ("tor", "anonymous-vpn", "public-proxy", "residential-proxy", "hosting-provider")
#: The keywords that name readers no source can place, or who hide where they are.
UNIDENTIFIED: Final = frozenset({UNKNOWN, ANONYMOUS, *ANONYMITY_KINDS})
#: `policy: {blocks: ...}`: `as-written` (a block reaches whom its jurisdictions reach) or
#: `spare-unknown-and-anonymous` (a block reaches `unknown` and anonymous readers only where it names them).
BLOCK_POLICIES: Final = ("as-written", "spare-unknown-and-anonymous")

#: `match: all`: the most elements of a page one rule's notice goes next to.
MAX_MATCHES: Final = 50
_INFINITY: Final = float("inf")


def notice_of(notices: Mapping[str, Notice], rule: Rule) -> Notice:
    """The notice a rule brings; for an `action: remove` rule that names none (`notice` ""), a stand-in
    with the id "" and no text, which nothing shows."""
    if rule.notice:
        return notices[rule.notice]
    return Notice(id="", title="(no notice)", text={}, default_language="", location=rule.location)


def element_key(rule_id: str) -> str:
    """How a rule that removes or replaces elements is named where it is placed and audited.

    Such a rule acts on its own elements, so it is counted per rule, not per notice; no notice
    id holds a ":".
    """
    return f"rule:{rule_id}"


PlaceKind = Literal[
    "body-start", "body-end", "marker", "before", "after", "prepend", "append", "header", "json", "head", "feed"
]
SELECTOR_PLACES: Final = frozenset({"before", "after", "prepend", "append"})
HTML_PLACES: Final = frozenset({"body-start", "body-end", "marker"}) | SELECTOR_PLACES


@dataclass(frozen=True, slots=True)
class Location:
    """Where something was written: a file and a 1-based line and column."""

    path: str
    line: int
    column: int

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.column}"


@dataclass(frozen=True, slots=True)
class Link:
    href: str
    text: Mapping[str, str]  # language tag -> link text


@dataclass(frozen=True, slots=True)
class HeadElement:
    """An element a notice adds to a page's `<head>` (`placement: head`): never raw HTML.

    `tag` is `meta`, `link` or `script`; `attributes` are its attributes in the order written,
    each value checked when the rules load (a script's `src` over https with an `integrity`
    hash) and escaped when rendered; None for a boolean attribute (`async`, `defer`).
    """

    tag: Literal["meta", "link", "script"]
    attributes: tuple[tuple[str, str | None], ...]

    def attribute(self, name: str) -> str | None:
        return next((value for key, value in self.attributes if key == name), None)


@dataclass(frozen=True, slots=True)
class Notice:
    id: str
    title: str
    text: Mapping[str, str]  # language tag as written (BCP 47) -> text
    default_language: str
    link: Link | None = None
    legal_basis: str | None = None
    source_url: str | None = None
    owner: str | None = None
    review_by: date | None = None
    css: str | None = None
    location: Location | None = None
    #: Languages the notice must have: each entry a tuple of alternatives (any one will do).
    required_languages: tuple[tuple[str, ...], ...] = ()
    #: `language`/`languages`: the texts always shown, in this order (keys of `text`); empty: chosen per reader.
    languages: tuple[str, ...] = ()
    #: `head`: the elements the notice adds to a page's `<head>` (`placement: head`), in order.
    head: tuple[HeadElement, ...] = ()


@dataclass(frozen=True, slots=True)
class Place:
    """One place a notice may go. `arg` is the marker name, selector, header name or JSON field."""

    kind: PlaceKind
    arg: str | None = None

    def __str__(self) -> str:
        return self.kind if self.arg is None else f"{self.kind}: {self.arg}"


def place_family(placement: tuple[Place, ...]) -> str:
    """The kind of response a placement's notice goes into: `html` (any HTML place), `json`, `header` or `feed`."""
    kind = placement[0].kind if placement else "body-end"
    return kind if kind in ("json", "header", "feed") else "html"


class PathMatcher(Protocol):
    """A compiled path pattern: `fullmatch` is not None when the whole path matches."""

    @property
    def pattern(self) -> str: ...

    def fullmatch(self, path: str) -> object | None: ...


@dataclass(frozen=True, slots=True)
class PathPattern:
    """A path glob (`/news/**`, `/*/amp`) or a `re:` pattern, compiled to match a whole path.

    Either runs in time linear in the path (see `compliance.rules.paths`).
    """

    source: str
    regex: PathMatcher

    def matches(self, path: str) -> bool:
        return self.regex.fullmatch(path) is not None

    def __str__(self) -> str:
        return self.source


@dataclass(frozen=True, slots=True)
class DatedCode:
    """A jurisdiction a rule names for a while only: a group member with `from`/`until` (built-in or not)."""

    code: str
    start: datetime | None  # inclusive, aware
    until: datetime | None  # exclusive, aware
    excepted: bool = False  # named under `except_jurisdictions`
    #: `start` and `until` as POSIX timestamps (-inf and inf where open), worked out once.
    start_at: float = field(init=False, repr=False, compare=False, default=-_INFINITY)
    until_at: float = field(init=False, repr=False, compare=False, default=_INFINITY)

    def __post_init__(self) -> None:
        if self.start is not None:
            object.__setattr__(self, "start_at", self.start.timestamp())
        if self.until is not None:
            object.__setattr__(self, "until_at", self.until.timestamp())

    def holds(self, now: float) -> bool:
        return self.start_at <= now < self.until_at


class DatedCodes(tuple[DatedCode, ...]):
    """A rule's dated members, as the loader gives them: rules that name the same groups share one,
    and with it what `Rule.at` works out for each moment (a load asks for every rule's moments)."""

    def held(self, now: float) -> tuple[frozenset[str], frozenset[str]]:
        """The codes named, and those excepted, at `now`."""
        moments: dict[float, tuple[frozenset[str], frozenset[str]]] = self.__dict__.setdefault("_held", {})
        found = moments.get(now)
        if found is None:
            held = [d for d in self if d.start_at <= now < d.until_at]
            found = frozenset(d.code for d in held if not d.excepted), frozenset(d.code for d in held if d.excepted)
            if len(moments) >= _HELD_KEPT:
                moments.clear()
            moments[now] = found
        return found

    def __reduce__(self) -> tuple[type[DatedCodes], tuple[tuple[DatedCode, ...]]]:
        return DatedCodes, (tuple(self),)  # (what `held` worked out stays behind)


#: Moments kept per `DatedCodes`: a load asks for a few (the changes of its groups' members).
_HELD_KEPT: Final = 64


@dataclass(frozen=True, slots=True)
class Condition:
    """`when:` on a rule: what the reader's request must carry for the rule to fire. Every part must hold.

    A condition only narrows a rule: the rule's jurisdictions, paths and dates still decide whom it
    may reach, and a reader whose request does not meet it gets what the other rules give.
    """

    #: Primary language subtags, lower case: the reader's Accept-Language lists one of them (q > 0).
    accept_language: tuple[str, ...] = ()
    #: (name as written, value): the request carries the header with exactly this value.
    headers: tuple[tuple[str, str], ...] = ()
    #: (name, value): the request's Cookie carries the cookie with exactly this value.
    cookies: tuple[tuple[str, str], ...] = ()
    #: `headers` as a request carries them: (lower-case name, value) in bytes, worked out once.
    raw_headers: tuple[tuple[bytes, bytes], ...] = field(init=False, repr=False, compare=False, default=())

    def __post_init__(self) -> None:
        raw = tuple((name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in self.headers)
        object.__setattr__(self, "raw_headers", raw)

    @property
    def vary(self) -> tuple[str, ...]:
        """The request headers a response decided under this condition varies by."""
        return (
            *(("Accept-Language",) if self.accept_language else ()),
            *(name for name, _ in self.headers),
            *(("Cookie",) if self.cookies else ()),
        )


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    #: The notice's id; "" for an `action: remove` rule that names none (see `notice_of`).
    notice: str
    #: Expanded: country codes, subdivision codes, "unknown", "anonymous", "*".
    jurisdictions: frozenset[str]
    except_jurisdictions: frozenset[str]
    paths: tuple[PathPattern, ...]
    except_paths: tuple[PathPattern, ...]
    #: Lower case; "*.example.org" for subdomains; empty means every host.
    hosts: tuple[str, ...]
    #: In order of preference. HTML places only, or one header/json place.
    placement: tuple[Place, ...]
    #: "remove"/"replace": the element its one selector place matches is left out (for "replace",
    #: the notice takes its place).
    action: Literal["notice", "block", "remove", "replace"]
    start: datetime | None  # `from`, inclusive, aware
    until: datetime | None  # exclusive, aware
    priority: int
    mode: Literal["enforce", "report-only"]
    location: Location
    #: The jurisdictions as written (codes and @groups), for explanations and reports.
    jurisdictions_written: tuple[str, ...] = ()
    except_jurisdictions_written: tuple[str, ...] = ()
    #: Languages the notice this rule brings must have, for this rule's readers (as on a notice).
    required_languages: tuple[tuple[str, ...], ...] = ()
    #: The law or order this rule applies, and its reference (a court order's number), for audit and reports.
    legal_basis: str | None = None
    reference: str | None = None
    #: `language`/`languages` on the rule: the notice's texts always shown, in this order (keys of its
    #: `text`); empty: the notice's own `languages`, else chosen per reader.
    languages: tuple[str, ...] = ()
    #: Jurisdictions named for a while only (dated group members); `jurisdictions` and
    #: `except_jurisdictions` hold the codes named throughout.
    dated: tuple[DatedCode, ...] = ()
    #: A block under the rule set's `spare-unknown-and-anonymous` policy: it reaches `unknown` and
    #: `anonymous` readers only through the keywords among `jurisdictions` (`"*"` does not count).
    spares_unidentified: bool = False
    #: The notice's form in an HTML page: "auto" (a `<span>` inside phrasing content, else an
    #: `<aside>`), "inline" (always the `<span>`) or "block" (always the `<aside>`).
    form: Literal["auto", "inline", "block"] = "auto"
    #: Where the notice goes when none of its HTML places is on the page: "body-end" (the default)
    #: or "none" (it is not shown, and the audit says it was missed and why).
    fallback: Literal["body-end", "none"] = "body-end"
    #: "first" (the default): the notice goes at the first element its selector place matches;
    #: "all": at each element it matches, up to 50 in a page (its placement is one selector place).
    match: Literal["first", "all"] = "first"
    #: `when:`: what the reader's request must carry for the rule to fire (notice rules only); None: always.
    when: Condition | None = None

    def at(self, now: float) -> Rule:
        """This rule with its dated jurisdictions as they stand at `now` (a POSIX timestamp)."""
        if not self.dated:
            return self
        # As `dataclasses.replace`, without its per-call look at the fields.
        values = list(_rule_fields(self))
        values[_JURISDICTIONS], values[_EXCEPT_JURISDICTIONS] = self.codes_at(now)
        values[_DATED] = ()
        return new_rule(*values)

    def codes_at(self, now: float) -> tuple[frozenset[str], frozenset[str]]:
        """The jurisdictions and exceptions, with the dated ones that hold at `now` (as `at(now)` has them)."""
        dated = self.dated
        if not dated:
            return self.jurisdictions, self.except_jurisdictions
        if isinstance(dated, DatedCodes):
            named, excepted = dated.held(now)
        else:
            held = [d for d in dated if d.start_at <= now < d.until_at]
            named = frozenset(d.code for d in held if not d.excepted)
            excepted = frozenset(d.code for d in held if d.excepted)
        return self.jurisdictions | named, self.except_jurisdictions | excepted


def quick_constructor(cls: type[_T]) -> Callable[..., _T]:
    """A constructor of `cls`, a frozen slotted dataclass, with its signature, about six times as fast.

    A frozen dataclass's `__init__` sets each field through `object.__setattr__`, a call per field.
    This one sets them as a plain class with the same slots does, then gives the object its class
    (`__class__` may change between classes of the same slots): what it makes is an instance of
    `cls` like any other, frozen from then on. A load makes a `Rule` per rule.
    """
    names = tuple(f.name for f in fields(cls))  # type: ignore[arg-type]
    if getattr(cls, "__slots__", None) != names or hasattr(cls, "__post_init__"):
        raise TypeError(f"{cls.__name__}: a frozen slotted dataclass without __post_init__ is needed")
    defaults: dict[str, object] = {}
    for f in fields(cls):  # type: ignore[arg-type]
        if not f.init or f.default_factory is not MISSING:
            raise TypeError(f"{cls.__name__}.{f.name}: every field is given to __init__, without a factory")
        if f.default is not MISSING:
            defaults[f"_default_{f.name}"] = f.default
    parameters = ", ".join(name if f"_default_{name}" not in defaults else f"{name}=_default_{name}" for name in names)
    body = "".join(f"    self.{name} = {name}\n" for name in names)
    namespace: dict[str, Any] = {"_class": cls, **defaults}
    exec(f"def __init__(self, {parameters}):\n{body}    self.__class__ = _class\n", namespace)
    return type(f"_{cls.__name__}Slots", (), {"__slots__": names, "__init__": namespace["__init__"]})


#: `Rule(...)`, with the same arguments, made about six times as fast (see `quick_constructor`).
new_rule: Final[Callable[..., Rule]] = quick_constructor(Rule)

_RULE_FIELD_NAMES: Final = tuple(f.name for f in fields(Rule))
_rule_fields: Final = attrgetter(*_RULE_FIELD_NAMES)
_JURISDICTIONS: Final = _RULE_FIELD_NAMES.index("jurisdictions")
_EXCEPT_JURISDICTIONS: Final = _RULE_FIELD_NAMES.index("except_jurisdictions")
_DATED: Final = _RULE_FIELD_NAMES.index("dated")


@dataclass(frozen=True, slots=True)
class RuleSet:
    rules: tuple[Rule, ...]
    notices: Mapping[str, Notice]
    #: The rule set's own groups, expanded to every code that belongs at some time (built-in groups are
    #: not listed; a rule's `dated` says when a member belongs).
    groups: Mapping[str, frozenset[str]] = field(default_factory=dict)
    #: The files the set was read from, in load order.
    files: tuple[str, ...] = ()
    #: Warnings found while loading (errors raise RuleFileError instead).
    warnings: tuple[Problem, ...] = ()
    #: The rule set's `policy: {blocks: ...}` (one of `BLOCK_POLICIES`), and where it was written.
    block_policy: str = "as-written"
    policy_location: Location | None = None

    def at(self, now: float) -> RuleSet:
        """This set with every rule's dated group members as they stand at `now` (for reports of a moment)."""
        if not any(rule.dated for rule in self.rules):
            return self
        return replace(self, rules=tuple(rule.at(now) for rule in self.rules))
