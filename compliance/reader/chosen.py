"""A jurisdiction chosen by a test rather than found: for `compliance test --app` and `--url`.

`--app` sets it through an ASGI scope extension that no server puts in a scope;
`--url` through a request header the server believes only with the right secret.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from typing import Any, Final

from compliance.reader.jurisdiction import Jurisdiction, anonymity_kind

__all__ = ["TEST_EXTENSION", "TEST_HEADER", "chosen_jurisdiction"]


#: An ASGI scope extension that sets the reader's jurisdiction, for `compliance test --app`.
#: A server never puts it in a scope, so it cannot be reached from the network.
TEST_EXTENSION: Final = "compliance.jurisdiction"
#: The request header `compliance test --url` sends to a staging server configured with
#: `test_secret`: `secret=...; country=RU; subdivision=UA-43; anonymous=1; anonymity=anonymous-vpn`.
#: Without the right secret it is ignored.
TEST_HEADER: Final = b"compliance-test-jurisdiction"


def chosen_jurisdiction(scope: Mapping[str, Any], secret: str | None) -> Jurisdiction | None:
    extensions = scope.get("extensions")
    if extensions:
        given = extensions.get(TEST_EXTENSION)
        if isinstance(given, Jurisdiction):
            return given
    if secret is None:
        return None
    value = next((v for k, v in scope.get("headers") or () if k == TEST_HEADER), None)
    if value is None:
        return None
    fields = {}
    for part in value.decode("latin-1").split(";"):
        key, _, val = part.partition("=")
        fields[key.strip().lower()] = val.strip()
    if not hmac.compare_digest(fields.get("secret", "").encode(), secret.encode()):
        return None
    country = fields.get("country", "").upper() or None
    if country in ("UNKNOWN", ""):
        country = None
    kind = anonymity_kind(fields.get("anonymity", ""))
    if kind == "tor":
        return Jurisdiction(None, None, True, "test", kinds=frozenset({kind}))
    subdivision = fields.get("subdivision", "").upper() or None
    kinds = frozenset({kind}) if kind is not None else frozenset()
    return Jurisdiction(country, subdivision, fields.get("anonymous") == "1", "test", kinds=kinds)
