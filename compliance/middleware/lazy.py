"""`scope["state"]` on a page no rule covers: the reader's jurisdiction, resolved only when the app reads it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from compliance.observe.audit import FAULT_LOGGER
from compliance.reader.chosen import chosen_jurisdiction
from compliance.reader.jurisdiction import UNKNOWN_JURISDICTION

if TYPE_CHECKING:
    from compliance.middleware import ComplianceMiddleware

__all__ = ["LazyState"]


class LazyState(dict[str, Any]):
    """`scope["state"]` on a page no rule covers: the jurisdiction is resolved when first read.

    `scope["state"]["jurisdiction"]` and Starlette's `request.state.jurisdiction`
    read it as on any other page; a page that never asks costs no resolution.
    The middleware fills its four fields where it builds one (no `__init__` of its
    own: a dict subclass's Python constructor cost as much as the rest of a
    pass-through). The scope itself is not kept: scope and state would be a cycle.
    """

    __slots__ = ("mw", "client", "headers", "extensions")
    mw: ComplianceMiddleware
    client: Any
    headers: Any
    extensions: Any

    def __missing__(self, key: str) -> Any:
        if key != "jurisdiction":
            raise KeyError(key)
        scope = {"client": self.client, "headers": self.headers, "extensions": self.extensions}
        try:
            value = chosen_jurisdiction(scope) or self.mw.resolver.resolve(scope)
        except Exception:
            FAULT_LOGGER.exception("compliance: could not resolve the jurisdiction")
            value = UNKNOWN_JURISDICTION
        self[key] = value
        return value

    def get(self, key: str, default: Any = None) -> Any:
        return self[key] if key == "jurisdiction" or key in self else default

    def __contains__(self, key: object) -> bool:
        return key == "jurisdiction" or super().__contains__(key)
