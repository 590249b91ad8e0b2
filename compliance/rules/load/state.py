"""The state of one load: what each file says (drafts, before the set is merged) and the problems found."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Final, Literal

from compliance.rules.load.messages import Sink
from compliance.rules.model import Condition, Location, Notice, PathPattern, Place
from compliance.rules.yamlstrict import YamlMap, YamlScalar, YamlValue

__all__ = ["ALWAYS", "DEFAULT_PLACEMENT", "Period", "GroupDraft", "Loader", "NoticeDraft", "RuleDraft"]

DEFAULT_PLACEMENT: Final = (Place("body-end"),)


#: A member's period in a group: (from, until), either open; (None, None) is always.
Period = tuple[datetime | None, datetime | None]
ALWAYS: Final[Period] = (None, None)


@dataclass
class GroupDraft:
    name: str
    path: str
    key: YamlScalar
    members: list[YamlScalar]
    #: Each member's period, in the order of `members`.
    periods: list[Period] = field(default_factory=list)


@dataclass
class NoticeDraft:
    id: str
    path: str
    key: YamlScalar
    notice: Notice | None


@dataclass
class RuleDraft:
    id: str | None  # None where the id is missing or not valid
    name: str | None  # the id as written, for messages
    path: str
    node: YamlMap
    valid: bool = True
    notice: YamlScalar | None = None
    jurisdictions: list[YamlScalar] = field(default_factory=list)
    except_jurisdictions: list[YamlScalar] = field(default_factory=list)
    paths: tuple[PathPattern, ...] = ()
    except_paths: tuple[PathPattern, ...] = ()
    hosts: tuple[str, ...] = ()
    placement: tuple[Place, ...] = DEFAULT_PLACEMENT
    action: Literal["notice", "block", "remove", "replace"] = "notice"
    start: datetime | None = None
    until: datetime | None = None
    until_node: YamlValue | None = None
    priority: int = 0
    mode: Literal["enforce", "report-only"] = "enforce"
    required_languages: tuple[tuple[str, ...], ...] = ()
    legal_basis: str | None = None
    reference: str | None = None
    languages: list[YamlScalar] = field(default_factory=list)
    form: Literal["auto", "inline", "block"] = "auto"
    fallback: Literal["body-end", "none"] = "body-end"
    match: Literal["first", "all"] = "first"
    when: Condition | None = None


class Loader:
    """What one load has read so far: its files, drafts and problems; `today` (UTC) dates the warnings."""

    def __init__(self, today: date | None) -> None:
        self.today = today if today is not None else datetime.now(UTC).date()
        self.sink = Sink()
        self.files: list[str] = []
        self.groups: list[GroupDraft] = []
        self.notices: list[NoticeDraft] = []
        self.rules: list[RuleDraft] = []
        self.defined_groups: dict[str, GroupDraft] = {}
        #: Each group's members with the periods they belong in it (built-in groups included).
        self.group_periods: dict[str, dict[str, list[Period]]] = {}
        #: Each `policy: {blocks: ...}` written, with where.
        self.policies: list[tuple[str, Location]] = []
        #: Each path pattern compiled so far, by its text: rules repeat their patterns, and a
        #: compiled pattern is immutable, so rules share one.
        self.path_patterns: dict[str, PathPattern] = {}
        #: Each placement read without a problem, by what it says (`places.placement_key`), and each
        #: `from`/`until` read, by its text: rules repeat them, and the values are immutable.
        self.placements: dict[object, tuple[Place, ...]] = {}
        self.moments: dict[str, datetime] = {}
