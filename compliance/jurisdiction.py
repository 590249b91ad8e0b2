"""Where a reader is: the Jurisdiction value, and the resolvers that find it.

(Resolvers are added below the value; see the module's __all__.)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["Jurisdiction", "Source"]

#: How a jurisdiction was found.
Source = Literal["header", "geoip", "embedded", "static", "test", "none"]


@dataclass(frozen=True, slots=True)
class Jurisdiction:
    """A reader's jurisdiction, as the rules see it.

    `country` is an ISO 3166-1 alpha-2 code, or None when no source knew it
    ("unknown" in rules). `subdivision` is a full ISO 3166-2 code (`UA-43`) or None.
    `anonymous` is True for a Tor exit or anonymizer. `source` says which source
    answered.
    """

    country: str | None
    subdivision: str | None = None
    anonymous: bool = False
    source: Source = "none"

    @property
    def codes(self) -> frozenset[str]:
        """The jurisdiction codes a rule can name that this reader matches (besides "*")."""
        codes = {self.country if self.country is not None else "unknown"}
        if self.subdivision is not None:
            codes.add(self.subdivision)
        if self.anonymous:
            codes.add("anonymous")
        return frozenset(codes)

    def __str__(self) -> str:
        where = self.subdivision or self.country or "unknown"
        return f"{where}{' (anonymous)' if self.anonymous else ''} via {self.source}"


UNKNOWN_JURISDICTION = Jurisdiction(None, None, False, "none")
