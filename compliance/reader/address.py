"""The reader's address: the ASGI peer, or what a trusted proxy says it forwarded for.

Forwarding headers are believed only from a trusted proxy. Each proxy appends the
address it received the request from, so the chain is walked right to left: the
first address that is not itself a trusted proxy is the client. A client can put
anything at the left of `X-Forwarded-For`; only what trusted proxies appended is
evidence. An entry that is not an address (`unknown`, an RFC 7239 obfuscated
identifier such as `_hidden`, garbage) stops the walk and leaves the client
unknown: guessing past it would hand the choice to whoever wrote it.

`Forwarded` (RFC 7239) and `X-Forwarded-For` are both read. When a trusted proxy
sends both, they must name the same client, or the client is unknown: most proxies
append to only one of them and pass the other through from the client untouched,
so letting either one win would let a client choose its own address.

References: RFC 7239; uvicorn's ProxyHeadersMiddleware, whose trust list this
follows, except that a malformed entry here is an error rather than a literal.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from bisect import bisect_right
from collections.abc import Iterable, Mapping
from typing import Any, Final

from compliance.errors import ConfigError

__all__ = [
    "CLIENT_IP_HEADERS",
    "FORWARDING_HEADERS",
    "TrustedProxies",
    "client_address",
    "forwarding_chain",
    "normalise_ip",
    "single_client",
]

#: The forwarding headers a proxy may write, by the name `forwarded_header` takes.
FORWARDING_HEADERS: Final = ("x-forwarded-for", "forwarded")
#: Headers in which a CDN sends the one address the client connected to it from (no chain of
#: hops), also named in `forwarded_header`: Fastly's `Fastly-Client-IP`.
CLIENT_IP_HEADERS: Final = ("fastly-client-ip",)

_IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

#: Longest text read as one address: a bracketed, quoted IPv6 address with a zone
#: id and a port fits; anything longer is not an address and is not cached.
_MAX_ADDRESS_LENGTH = 100
#: Entries kept by each bounded cache before it is emptied and starts again.
_CACHE_SIZE = 4096

_IPV4_MAPPED = ipaddress.IPv6Network("::ffff:0:0/96")

_normalised: dict[object, str | None] = {}


def normalise_ip(text: str | None) -> str | None:
    """The canonical text of the address `text` carries, or None when it carries none.

    Reads `::ffff:1.2.3.4` as `1.2.3.4`, drops a port (`1.2.3.4:80`,
    `[2001:db8::1]:443`), brackets, RFC 7239 quotes, surrounding whitespace and an
    IPv6 zone id. `unknown`, obfuscated identifiers (`_hidden`) and host names
    such as Starlette's `testclient` are None, as is None itself.
    """
    try:
        return _normalised[text]
    except KeyError:
        pass
    except TypeError:  # unhashable: certainly not an address
        return None
    result = _parse_address(text)
    if isinstance(text, str) and len(text) <= _MAX_ADDRESS_LENGTH:
        if len(_normalised) >= _CACHE_SIZE:
            _normalised.clear()
        _normalised[text] = result
    return result


def _parse_address(text: object) -> str | None:
    if not isinstance(text, str) or len(text) > _MAX_ADDRESS_LENGTH:
        return None
    text = text.strip()
    if len(text) >= 2 and text[0] == '"' and text[-1] == '"':
        text = text[1:-1].strip()
    if text.startswith("["):
        end = text.find("]")
        if end < 0 or not _is_port(text[end + 1 :], bracketed=True):
            return None
        text = text[1:end]
    elif text.count(":") == 1:  # IPv4 with a port; IPv6 has at least two colons
        text, _, port = text.partition(":")
        if not _is_port(":" + port, bracketed=False):
            return None
    text = text.partition("%")[0]  # an IPv6 zone id (fe80::1%eth0)
    try:
        address: _IPAddress = ipaddress.ip_address(text)
    except ValueError:
        return None
    return str(_unmapped(address))


def _is_port(rest: str, *, bracketed: bool) -> bool:
    """Whether `rest` (what follows an address) is nothing, or `:` and a port.

    RFC 7239 allows an obfuscated port (`_8080`) as well as a number.
    """
    if not rest:
        return bracketed
    if rest[0] != ":" or len(rest) < 2:
        return False
    port = rest[1:]
    return (port.isascii() and port.isdigit() and len(port) <= 5) or (
        port[0] == "_" and _OBFUSCATED.match(port) is not None
    )


_OBFUSCATED = re.compile(r"_[A-Za-z0-9._-]+\Z")


def _unmapped(address: _IPAddress) -> _IPAddress:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


class TrustedProxies:
    """The proxies whose forwarding headers are believed: addresses and networks.

    Built once from entries such as `"10.0.0.0/8"`, `"127.0.0.1"` or `"::1"` (a
    string is read as a comma-separated list). A malformed entry raises
    ConfigError naming it. `"*"` trusts every peer, including one that is not an
    address: for tests and local development only, since any client can then
    choose its own address.
    """

    __slots__ = ("_addresses", "_cache", "_chains", "_networks", "entries", "trust_all")

    def __init__(self, entries: Iterable[str] | str = ()) -> None:
        if isinstance(entries, str):
            entries = [part for part in entries.split(",") if part.strip()]
        entries = list(entries)
        #: The entries as given (to build a larger set from this one).
        self.entries: tuple[str, ...] = tuple(entries)
        self.trust_all = False
        self._addresses: set[str] = set()
        self._networks: list[_IPNetwork] = []
        self._cache: dict[object, bool] = {}
        self._chains: dict[tuple[bytes | None, bytes | None], str | None] = {}
        for entry in entries:
            if not isinstance(entry, str):
                raise ConfigError(f"trusted proxy entry {entry!r} is not a string")
            text = entry.strip()
            if text == "*":
                self.trust_all = True
            elif "/" in text:
                self._add_network(entry, text)
            else:
                try:
                    address: _IPAddress = ipaddress.ip_address(text)
                except ValueError:
                    raise ConfigError(f"trusted proxy entry {entry!r} is not an IP address or network") from None
                if "%" in text:
                    raise ConfigError(f"trusted proxy entry {entry!r} has a zone id; give the address alone")
                self._addresses.add(str(_unmapped(address)))

    def _add_network(self, entry: str, text: str) -> None:
        try:
            network: _IPNetwork = ipaddress.ip_network(text, strict=False)
        except ValueError as exc:
            raise ConfigError(f"trusted proxy entry {entry!r} is not an IP address or network: {exc}") from None
        # Compared as numbers: how an IPv4-mapped address prints differs between Python versions.
        if network.network_address != ipaddress.ip_interface(text).ip:
            raise ConfigError(f"trusted proxy entry {entry!r} has host bits set: did you mean {str(network)!r}?")
        if isinstance(network, ipaddress.IPv6Network) and network.subnet_of(_IPV4_MAPPED):
            mapped = network.network_address.ipv4_mapped
            assert mapped is not None
            network = ipaddress.IPv4Network((mapped, network.prefixlen - 96))
        if network.num_addresses == 1:
            self._addresses.add(str(network.network_address))
        else:
            self._networks.append(network)

    def __contains__(self, ip: object) -> bool:
        """Whether the address `ip` (any form normalise_ip reads) is a trusted proxy."""
        if self.trust_all:
            return True
        try:
            return self._cache[ip]
        except KeyError:
            pass
        except TypeError:
            return False
        found = self._lookup(ip)
        if isinstance(ip, str) and len(ip) <= _MAX_ADDRESS_LENGTH:
            if len(self._cache) >= _CACHE_SIZE:
                self._cache.clear()
            self._cache[ip] = found
        return found

    def _lookup(self, ip: object) -> bool:
        if not isinstance(ip, str):
            return False
        text = normalise_ip(ip)
        if text is None:
            return False
        if text in self._addresses:
            return True
        if not self._networks:
            return False
        address = ipaddress.ip_address(text)
        return any(address in network for network in self._networks)

    def client_of(self, peer: str | None, forwarded: bytes | None, x_forwarded_for: bytes | None) -> str | None:
        """The client of a request from the trusted `peer`, given its forwarding headers.

        `forwarded` and `x_forwarded_for` are each header's instances joined with
        commas, in order, or None where the header is absent. None when the client
        is unknown. Walks are cached per pair of values.
        """
        if forwarded is None and x_forwarded_for is None:
            return normalise_ip(peer)
        key = (forwarded, x_forwarded_for)
        try:
            client_ip = self._chains[key]
        except KeyError:
            client_ip = _forwarded_client(forwarded, x_forwarded_for, self)
            if len(forwarded or b"") + len(x_forwarded_for or b"") <= _MAX_CACHED_CHAIN:
                if len(self._chains) >= _CACHE_SIZE:
                    self._chains.clear()
                self._chains[key] = client_ip
        if client_ip == _NO_HOP:  # the headers are there but name no hop
            return normalise_ip(peer)
        return client_ip

    def __bool__(self) -> bool:
        return self.trust_all or bool(self._addresses) or bool(self._networks)

    def __repr__(self) -> str:
        entries = ["*"] if self.trust_all else [*sorted(self._addresses), *map(str, self._networks)]
        return f"TrustedProxies({entries!r})"


def client_address(
    scope: Mapping[str, Any], trusted: TrustedProxies, header: bytes | None = None
) -> tuple[str | None, bool]:
    """The client's address (None when unknown) and whether the peer is a trusted proxy.

    The peer is `scope["client"][0]`. Only when it is trusted are the forwarding
    headers read: `header` alone (`b"x-forwarded-for"` or `b"forwarded"`, the one
    the proxies write), or both where `header` is None (see the module docstring).
    A trusted peer that sends none is itself the client.
    """
    client = scope.get("client")
    peer = client[0] if client else None
    if peer not in trusted:
        return normalise_ip(peer), False
    if header is not None and header.decode("latin-1") in CLIENT_IP_HEADERS:
        sent: bytes | None = None
        for name, value in scope.get("headers") or ():
            if name == header:
                sent = value if sent is None else sent + b"," + value
        return (normalise_ip(peer) if sent is None else single_client(sent)), True
    forwarded: bytes | None = None
    x_forwarded_for: bytes | None = None
    for name, value in scope.get("headers") or ():
        if header is not None and name != header:
            continue
        if name == b"x-forwarded-for":
            x_forwarded_for = value if x_forwarded_for is None else x_forwarded_for + b"," + value
        elif name == b"forwarded":
            forwarded = value if forwarded is None else forwarded + b"," + value
    return trusted.client_of(peer, forwarded, x_forwarded_for), True


def single_client(value: bytes) -> str | None:
    """The address a CDN's client-address header (`Fastly-Client-IP`) names; its instances joined with commas.

    One address, or the same address in every instance; anything else (a list of
    different addresses, text that is not an address) leaves the client unknown,
    as an entry of a forwarding chain that is not an address does.
    """
    found: str | None = None
    for part in value.decode("latin-1").split(",", 8)[:8]:
        address = normalise_ip(part.strip())
        if address is None or (found is not None and address != found):
            return None
        found = address
    return found if value.count(b",") < 8 else None


def _forwarded_client(forwarded: bytes | None, x_forwarded_for: bytes | None, trusted: TrustedProxies) -> str | None:
    from_xff = _walk(_x_forwarded_for(x_forwarded_for), trusted) if x_forwarded_for is not None else _NO_HOP
    from_forwarded: str | None = _NO_HOP
    if forwarded is not None:
        hops = _forwarded_for(forwarded)
        if hops is not None:
            from_forwarded = _walk(hops, trusted)
        else:
            # What a client wrote can be malformed; what the trusted proxies appended after it is
            # not: walk the well-formed elements at the right end, and only if every one of them
            # is a trusted proxy does the reader lie in the part that cannot be read.
            tail = _forwarded_tail(forwarded)
            walked = None if tail is None else _walk(tail, trusted)
            from_forwarded = walked if walked and walked not in trusted else None
    if from_forwarded == _NO_HOP:
        return from_xff
    if from_xff in (_NO_HOP, from_forwarded):
        return from_forwarded
    return None  # the chains disagree: a proxy passed a client's own header through


#: What a chain with no hop walks to (normalise_ip never returns an empty string).
_NO_HOP = ""
#: How many elements of a Forwarded header that does not parse are read from its right end.
_MAX_TAIL_HOPS = 32


def _forwarded_tail(header: bytes) -> list[str | None] | None:
    """The hops of the longest well-formed run of elements at the right end of a Forwarded header.

    Tried from the right, one element more each time (at most `_MAX_TAIL_HOPS`), and
    stopping at the first run that does not parse: bounded work whatever the header.
    None when not even the last element parses.
    """
    found: list[str | None] | None = None
    end = len(header)
    for _ in range(_MAX_TAIL_HOPS):
        comma = header.rfind(b",", 0, end)
        hops = _forwarded_for(header[comma + 1 :])
        if hops is None:
            break
        found = hops
        if comma < 0:
            break
        end = comma
    return found


#: Longest pair of forwarding headers whose walk is cached.
_MAX_CACHED_CHAIN = 512


def _x_forwarded_for(value: bytes) -> list[str | None]:
    return [hop for hop in value.decode("latin-1").split(",") if hop.strip()]


def forwarding_chain(header: bytes, value: bytes) -> list[str | None] | None:
    """The hops `value` lists, left to right, for the forwarding header `header`; None when it does not parse."""
    return _forwarded_for(value) if header == b"forwarded" else _x_forwarded_for(value)


def _walk(hops: list[str | None] | None, trusted: TrustedProxies) -> str | None:
    """The right-most hop that is not a trusted proxy; the left-most when all are.

    `_NO_HOP` when there is no hop; None when the chain does not parse or a hop is
    not an address.
    """
    if hops is None:
        return None
    address: str | None = _NO_HOP
    for hop in reversed(hops):
        address = normalise_ip(hop) if hop is not None else None
        if address is None:
            return None
        if address not in trusted:
            return address
    return address


#: One `name=value` pair of a Forwarded element, then what ends it.
_FORWARDED_PAIR = re.compile(
    r"""[ \t]*([!#$%&'*+.^_`|~0-9A-Za-z-]+)[ \t]*=[ \t]*("(?:[^"\\]|\\.)*"|[^;,"\s]*)[ \t]*(;|,|\Z)"""
)


def _forwarded_for(header: bytes) -> list[str | None] | None:
    """The `for=` value of each element of the Forwarded headers, in order.

    An element without `for=` is None in the list (a hop that did not say); a
    header that does not parse is None altogether; one where no element has
    `for=` names no hop (an empty list).
    """
    value = header.decode("latin-1")
    hops: list[str | None] = []
    element: dict[str, str] = {}
    position, end = 0, len(value)
    while position < end:
        if value[position] in " \t,":  # empty elements are allowed (RFC 7230 #rule)
            position += 1
            if value[position - 1] == "," and element:
                hops.append(element.get("for"))
                element = {}
            continue
        match = _FORWARDED_PAIR.match(value, position)
        if match is None:
            return None
        name, raw, separator = match.group(1).lower(), match.group(2), match.group(3)
        if name in element:
            return None
        if raw.startswith('"'):
            raw = re.sub(r"\\(.)", r"\1", raw[1:-1])
        element[name] = raw
        position = match.end()
        if separator != ";":
            hops.append(element.get("for"))
            element = {}
    if element:
        hops.append(element.get("for"))
    if all(hop is None for hop in hops):  # e.g. only `proto=`: the header names no hop
        return []
    return hops


#: Where no database can place a reader (IANA special-purpose registries): private,
#: shared (CGNAT), loopback, link-local, documentation, benchmarking, multicast and
#: reserved space. Of IPv6, only global unicast (2000::/3) is looked at.
_NOT_PUBLIC_V4: Final = (
    "0.0.0.0/8",
    "10.0.0.0/8",
    "100.64.0.0/10",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "172.16.0.0/12",
    "192.0.0.0/24",
    "192.0.2.0/24",
    "192.168.0.0/16",
    "198.18.0.0/15",
    "198.51.100.0/24",
    "203.0.113.0/24",
    "224.0.0.0/4",
    "240.0.0.0/4",
)
_NOT_PUBLIC_V6: Final = (
    "::/3",  # unspecified, loopback, IPv4-compatible, NAT64, discard, ...
    "2001::/23",  # IETF protocol assignments (Teredo, benchmarking, ORCHID)
    "2001:db8::/32",  # documentation
    "3fff::/20",  # documentation
    "4000::/2",  # not allocated; above them ULA, link-local, site-local, multicast
    "8000::/1",
)


def _ranges(networks: Iterable[str]) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Sorted first and last addresses of `networks`, as integers, for bisect."""
    spans = sorted((int(n.network_address), int(n.broadcast_address)) for n in map(ipaddress.ip_network, networks))
    return tuple(first for first, _ in spans), tuple(last for _, last in spans)


_NOT_PUBLIC_RANGES: Final = {4: _ranges(_NOT_PUBLIC_V4), 6: _ranges(_NOT_PUBLIC_V6)}


def is_public(ip: str) -> bool:
    """Whether `ip` is a globally routed unicast address, one a database can place.

    Private, shared (CGNAT), loopback, link-local, multicast, reserved,
    unspecified, benchmarking and documentation addresses are not (192.0.2.0/24,
    198.51.100.0/24, 203.0.113.0/24, 2001:db8::/32 included); nor is anything that
    is not an address. `::ffff:a.b.c.d` is read as `a.b.c.d`.
    """
    try:  # inet_pton: a fifth of the cost of ipaddress, and as strict
        if ":" in ip:
            value = int.from_bytes(socket.inet_pton(socket.AF_INET6, ip), "big")
            version = 6
            if value >> 32 == 0xFFFF:  # ::ffff:a.b.c.d
                value, version = value & 0xFFFFFFFF, 4
        else:
            value, version = int.from_bytes(socket.inet_pton(socket.AF_INET, ip), "big"), 4
    except (OSError, ValueError, TypeError):
        return False
    firsts, lasts = _NOT_PUBLIC_RANGES[version]
    index = bisect_right(firsts, value) - 1
    return index < 0 or value > lasts[index]
