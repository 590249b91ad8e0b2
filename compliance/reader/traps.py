"""Deployment traps the middleware can see from requests, each reported once on the `compliance` logger.

1. The server already rewrote the client: uvicorn's `--proxy-headers` (on by
   default, for peers in `--forwarded-allow-ips`, 127.0.0.1 by default) puts the
   right-most `X-Forwarded-For` entry in `scope["client"]` before the middleware
   runs, so `trusted_proxies` is bypassed. Seen as a peer equal to the right-most
   `X-Forwarded-For` entry of its own request.
2. No trusted proxy is configured, and requests with forwarding headers arrive
   from a private or loopback address: a proxy in front whose headers are
   ignored, so every reader is `unknown`.

Both are looked for only on requests from a peer that is not a trusted proxy,
for the first `WATCHED` such requests: after that, nothing is checked.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Final

from compliance.reader.address import forwarding_chain, is_public, normalise_ip

__all__ = ["WATCHED", "DeploymentTraps"]

logger = logging.getLogger("compliance")

#: Requests from untrusted peers looked at before the watch stops.
WATCHED: Final = 10_000
_XFF: Final = b"x-forwarded-for"
_FORWARDED: Final = b"forwarded"


class DeploymentTraps:
    __slots__ = ("remaining", "trusted_configured", "rewritten", "ignored")

    def __init__(self, trusted_configured: bool) -> None:
        self.remaining = WATCHED
        self.trusted_configured = trusted_configured
        self.rewritten = False
        #: Reported already (or cannot happen: trusted proxies are configured).
        self.ignored = trusted_configured

    def look(self, scope: Mapping[str, Any], peer: str | None) -> bool:
        """Look at one request from an untrusted `peer`; False once there is nothing left to watch for."""
        self.remaining -= 1
        if self.remaining < 0 or (self.rewritten and self.ignored):
            return False
        xff: bytes | None = None
        forwarded = False
        for name, value in scope.get("headers") or ():
            if name == _XFF:
                xff = value if xff is None else xff + b"," + value
            elif name == _FORWARDED:
                forwarded = True
        if peer is None or (xff is None and not forwarded):
            return True
        if not self.rewritten and xff is not None:
            hops = forwarding_chain(_XFF, xff) or []
            last = normalise_ip(hops[-1]) if hops and hops[-1] is not None else None
            if last is not None and last == peer:
                self.rewritten = True
                logger.warning(
                    "compliance: the server already replaced the client address with the X-Forwarded-For address "
                    "before the middleware ran (uvicorn's --proxy-headers, on by default, or a proxy-headers "
                    "middleware), so trusted_proxies is bypassed and clients can choose their address. Run uvicorn "
                    "with --no-proxy-headers (proxy_headers=False) and name your proxies in trusted_proxies"
                )
        if not self.ignored and not is_public(peer):
            self.ignored = True
            logger.warning(
                "compliance: requests with forwarding headers arrive from a private address and no "
                "trusted_proxies are configured, so the headers are ignored and every reader behind that proxy "
                "is 'unknown'. Name the proxy's addresses in trusted_proxies"
            )
        return True
