"""A jurisdiction chosen by a test rather than found: for `compliance test --app` and `--url`, and preview links.

`--app` sets it through an ASGI scope extension that no server puts in a scope;
`--url` and preview links through a signed, short-lived token
(`compliance.reader.token`) that the middleware verifies, strips, and turns into
that same extension.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from compliance.reader.jurisdiction import Jurisdiction
from compliance.reader.token import TEST_AT_EXTENSION, TOKEN_HEADER

__all__ = ["TEST_AT_EXTENSION", "TEST_EXTENSION", "TEST_HEADER", "chosen_jurisdiction", "chosen_moment"]


#: An ASGI scope extension that sets the reader's jurisdiction, for `compliance test --app`.
#: A server never puts it in a scope, so it cannot be reached from the network.
TEST_EXTENSION: Final = "compliance.jurisdiction"
#: The request header `compliance test --url` sends a signed test token in (see `compliance.reader.token`).
TEST_HEADER: Final = TOKEN_HEADER


def chosen_jurisdiction(scope: Mapping[str, Any]) -> Jurisdiction | None:
    extensions = scope.get("extensions")
    if extensions:
        given = extensions.get(TEST_EXTENSION)
        if isinstance(given, Jurisdiction):
            return given
    return None


def chosen_moment(scope: Mapping[str, Any]) -> float | None:
    """The moment a test decides at (a case's `at:`), where it chose one."""
    extensions = scope.get("extensions")
    if extensions:
        given = extensions.get(TEST_AT_EXTENSION)
        if isinstance(given, int | float) and not isinstance(given, bool):
            return float(given)
    return None
