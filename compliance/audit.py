"""Audit events: one JSON object a message on the `compliance.audit` logger, at INFO.

An event says which rules fired for which jurisdiction on which page, where each
notice went, and each notice that was due but could not be placed. The client
address is never logged: at most its network (a /24 for IPv4, a /48 for IPv6).
Nothing is built unless the logger is enabled for INFO.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import time
from collections.abc import Mapping
from typing import Any, Final

from .jurisdiction import Jurisdiction

__all__ = ["AUDIT_LOGGER", "FAULT_LOGGER", "audit_enabled", "emit", "network_of"]

AUDIT_LOGGER: Final = logging.getLogger("compliance.audit")
#: Faults inside the middleware (the page is served as the app sent it).
FAULT_LOGGER: Final = logging.getLogger("compliance")


def audit_enabled() -> bool:
    return AUDIT_LOGGER.isEnabledFor(logging.INFO)


def network_of(ip: str | None) -> str | None:
    """The reader's network, never the address: a /24 for IPv4, a /48 for IPv6."""
    if not ip:
        return None
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return None
    prefix = 24 if address.version == 4 else 48
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False))


def jurisdiction_fields(j: Jurisdiction) -> dict[str, Any]:
    return {"country": j.country, "subdivision": j.subdivision, "anonymous": j.anonymous, "source": j.source}


def emit(event: str, fields: Mapping[str, Any]) -> None:
    record = {"event": event, "time": round(time.time(), 3), **fields}
    AUDIT_LOGGER.info(json.dumps(record, ensure_ascii=False, separators=(",", ":"), default=str))
