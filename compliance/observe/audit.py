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
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from compliance.errors import ConfigError
from compliance.reader.jurisdiction import Jurisdiction

__all__ = ["AUDIT_LOGGER", "FAULT_LOGGER", "AuditPolicy", "audit_enabled", "emit", "network_of"]

AUDIT_LOGGER: Final = logging.getLogger("compliance.audit")
#: Faults inside the middleware (the page is served as the app sent it).
FAULT_LOGGER: Final = logging.getLogger("compliance")


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
        address = ipaddress.ip_address(ip)
    except ValueError:
        found = None
    else:
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


def jurisdiction_fields(j: Jurisdiction) -> dict[str, Any]:
    return {"country": j.country, "subdivision": j.subdivision, "anonymous": j.anonymous, "source": j.source}


def emit(event: str, fields: Mapping[str, Any]) -> None:
    record = {"event": event, "time": round(time.time(), 3), **fields}
    AUDIT_LOGGER.info(json.dumps(record, ensure_ascii=False, separators=(",", ":"), default=str))


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
