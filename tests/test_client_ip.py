from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from compliance.errors import ConfigError
from compliance.reader import address as client_ip
from compliance.reader.address import TrustedProxies, client_address, normalise_ip

_PROXY_NETWORKS = ["10.0.0.0/8"]
_PROXY_V6 = ["2001:db8::/32"]
_EVERYONE = ["*"]
_PEER = "10.0.0.1"  # a trusted proxy in _PROXY_NETWORKS
_READER = "95.173.136.70"
_OTHER = "8.8.8.8"


def make_scope(peer: Any, headers: Sequence[tuple[str, str | bytes]] = ()) -> dict[str, Any]:
    return {
        "type": "http",
        "client": None if peer is None else (peer, 51000),
        "headers": [
            (name.lower().encode("latin-1"), value if isinstance(value, bytes) else value.encode("latin-1"))
            for name, value in headers
        ],
    }


def xff(value: str | bytes) -> tuple[str, str | bytes]:
    return ("X-Forwarded-For", value)


def fwd(value: str | bytes) -> tuple[str, str | bytes]:
    return ("Forwarded", value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("95.173.136.70", "95.173.136.70"),
        ("  95.173.136.70\t", "95.173.136.70"),
        ("::ffff:95.173.136.70", "95.173.136.70"),
        ("::FFFF:5fad:8846", "95.173.136.70"),
        ("95.173.136.70:5678", "95.173.136.70"),
        ("95.173.136.70:_port", "95.173.136.70"),
        ("[2a02:6b8::1]:443", "2a02:6b8::1"),
        ("[2a02:6b8::1]", "2a02:6b8::1"),
        ('"[2A02:06B8:0:0::1]:80"', "2a02:6b8::1"),
        ('"95.173.136.70"', "95.173.136.70"),
        ("fe80::1%eth0", "fe80::1"),
        ("[fe80::1%25eth0]:80", "fe80::1"),
        ("unknown", None),
        ("_hidden", None),
        ("_SEVKISEK", None),
        ("testclient", None),
        ("localhost", None),
        ("", None),
        ("95.173.136.70:", None),
        ("95.173.136.70:port", None),
        ("95.173.136.70:123456", None),
        ("[2a02:6b8::1]x", None),
        ("[2a02:6b8::1", None),
        ("095.173.136.70", None),
        ("1.2.3.4.5", None),
        ("1" * 200, None),
        (None, None),
    ],
)
def test_normalise_ip(text: str | None, expected: str | None) -> None:
    assert normalise_ip(text) == expected


def test_normalise_ip_cache_is_bounded() -> None:
    for n in range(client_ip._CACHE_SIZE + 10):
        normalise_ip(f"2a02:6b8::{n:x}")
    assert 0 < len(client_ip._normalised) <= client_ip._CACHE_SIZE
    assert normalise_ip("::ffff:95.173.136.70") == "95.173.136.70"


def test_normalise_ip_does_not_cache_absurd_lengths() -> None:
    text = "9" * 10_000
    assert normalise_ip(text) is None
    assert text not in client_ip._normalised


@pytest.mark.parametrize(
    ("entries", "ip", "expected"),
    [
        (_PROXY_NETWORKS, "10.1.2.3", True),
        (_PROXY_NETWORKS, "::ffff:10.1.2.3", True),
        (_PROXY_NETWORKS, "10.1.2.3:8080", True),
        (_PROXY_NETWORKS, "11.0.0.1", False),
        (_PROXY_NETWORKS, "testclient", False),
        (_PROXY_NETWORKS, None, False),
        (["127.0.0.1", "::1"], "127.0.0.1", True),
        (["127.0.0.1", "::1"], "::1", True),
        (["127.0.0.1", "::1"], "[::1]:443", True),
        (["127.0.0.1", "::1"], "127.0.0.2", False),
        (["::ffff:127.0.0.1"], "127.0.0.1", True),
        (["::ffff:192.168.0.0/112"], "192.168.7.7", True),
        (["2001:DB8::/32"], "2001:db8::99", True),
        (["2001:db8::/32"], "2001:db9::1", False),
        (["10.0.0.7/32"], "10.0.0.7", True),
        ("10.0.0.0/8, 127.0.0.1", "127.0.0.1", True),
        ("10.0.0.0/8, 127.0.0.1", "10.9.9.9", True),
        ([], "127.0.0.1", False),
        (_EVERYONE, "95.173.136.70", True),
        (_EVERYONE, "testclient", True),
        (_EVERYONE, None, True),
    ],
)
def test_trusted_proxies_membership(entries: list[str] | str, ip: str | None, expected: bool) -> None:
    trusted = TrustedProxies(entries)
    assert (ip in trusted) is expected
    assert (ip in trusted) is expected  # again, from the cache


@pytest.mark.parametrize(
    "entry",
    ["localhost", "10.0.0.0/33", "10.0.0.1/8", "[::1]", "127.0.0.1:80", "fe80::1%eth0", "", "10.0.0", "unix:"],
)
def test_malformed_trusted_proxy_is_a_config_error(entry: str) -> None:
    with pytest.raises(ConfigError, match="trusted proxy entry") as info:
        TrustedProxies(["127.0.0.1", entry])
    assert repr(entry) in str(info.value)


def test_trusted_proxy_with_host_bits_suggests_the_network() -> None:
    with pytest.raises(ConfigError, match="did you mean '10.0.0.0/8'"):
        TrustedProxies(["10.0.0.1/8"])


def test_trusted_proxies_cache_is_bounded() -> None:
    trusted = TrustedProxies(_PROXY_NETWORKS)
    for n in range(client_ip._CACHE_SIZE + 10):
        assert f"11.0.{n // 256}.{n % 256}" not in trusted
    assert len(trusted._cache) <= client_ip._CACHE_SIZE


def test_forwarding_chain_cache_is_bounded() -> None:
    trusted = TrustedProxies(_PROXY_NETWORKS)
    for n in range(client_ip._CACHE_SIZE + 10):
        scope = make_scope(_PEER, [xff(f"95.173.{n // 256}.{n % 256}")])
        assert client_address(scope, trusted) == (f"95.173.{n // 256}.{n % 256}", True)
    assert 0 < len(trusted._chains) <= client_ip._CACHE_SIZE
    long_chain = ", ".join([_READER] * 200)
    assert client_address(make_scope(_PEER, [xff(long_chain)]), trusted) == (_READER, True)
    assert all(len(xff_value or b"") < len(long_chain) for _, xff_value in trusted._chains)


@pytest.mark.parametrize(
    ("trusted", "peer", "headers", "expected"),
    [
        # No proxy: the peer is the client, and forwarding headers are ignored.
        ([], _READER, [], (_READER, False)),
        ([], _READER, [xff(_OTHER)], (_READER, False)),
        ([], _READER, [fwd(f"for={_OTHER}")], (_READER, False)),
        (_PROXY_NETWORKS, "11.0.0.1", [xff(_OTHER)], ("11.0.0.1", False)),
        (_PROXY_NETWORKS, "11.0.0.1", [xff("10.0.0.5")], ("11.0.0.1", False)),
        (_PROXY_NETWORKS, "::ffff:95.173.136.70", [], (_READER, False)),
        ([], "testclient", [xff(_OTHER)], (None, False)),
        ([], None, [xff(_OTHER)], (None, False)),
        # A trusted peer with no forwarding header is itself the client.
        (_PROXY_NETWORKS, _PEER, [], (_PEER, True)),
        (_PROXY_NETWORKS, _PEER, [xff("")], (_PEER, True)),
        (_PROXY_NETWORKS, _PEER, [fwd("proto=https;host=example.org")], (_PEER, True)),
        # X-Forwarded-For, right to left.
        (_PROXY_NETWORKS, _PEER, [xff(_READER)], (_READER, True)),
        (_PROXY_NETWORKS, "::ffff:10.0.0.1", [xff(_READER)], (_READER, True)),
        (_PROXY_NETWORKS, _PEER, [xff(f"{_OTHER}, {_READER}")], (_READER, True)),
        (_PROXY_NETWORKS, _PEER, [xff(f"{_OTHER}, {_READER}, 10.0.0.2")], (_READER, True)),
        (_PROXY_NETWORKS, _PEER, [xff(f"{_OTHER},{_READER} ,10.0.0.2,10.0.0.3")], (_READER, True)),
        (_PROXY_NETWORKS, _PEER, [xff("10.0.0.3, 10.0.0.2")], ("10.0.0.3", True)),
        (_PROXY_NETWORKS, _PEER, [xff(f"{_OTHER}"), xff(f"{_READER}, 10.0.0.2")], (_READER, True)),
        (_PROXY_NETWORKS, _PEER, [xff(_OTHER), ("Accept", "*/*"), xff(_READER)], (_READER, True)),
        (_PROXY_NETWORKS, _PEER, [xff(_READER), xff("10.0.0.2")], (_READER, True)),
        (_PROXY_NETWORKS, _PEER, [xff(f"{_READER}:5678, 10.0.0.2:80")], (_READER, True)),
        (_PROXY_NETWORKS, _PEER, [xff("[2a02:6b8::1]:443")], ("2a02:6b8::1", True)),
        (_PROXY_NETWORKS, _PEER, [xff("::ffff:95.173.136.70")], (_READER, True)),
        (_PROXY_V6, "2001:db8::5", [xff(f"{_READER}, 2001:db8::6")], (_READER, True)),
        (_EVERYONE, "testclient", [xff(f"{_OTHER}, {_READER}")], (_OTHER, True)),
        # What cannot be an address stops the walk: unknown, not a guess.
        (_PROXY_NETWORKS, _PEER, [xff(f"{_READER}, unknown")], (None, True)),
        (_PROXY_NETWORKS, _PEER, [xff(f"{_READER}, _hidden, 10.0.0.2")], (None, True)),
        (_PROXY_NETWORKS, _PEER, [xff("garbage, 10.0.0.2")], (None, True)),
        (_PROXY_NETWORKS, _PEER, [xff(f"{_READER}, \xff\xfe")], (None, True)),
        # ...but garbage left of the client is never reached.
        (_PROXY_NETWORKS, _PEER, [xff(f"garbage, {_READER}")], (_READER, True)),
        (_PROXY_NETWORKS, _PEER, [xff(b"\xff\xfe\x00, " + _READER.encode())], (_READER, True)),
        # Forwarded (RFC 7239).
        (_PROXY_NETWORKS, _PEER, [fwd(f"for={_READER}")], (_READER, True)),
        (_PROXY_NETWORKS, _PEER, [fwd(f"For={_READER};Proto=https")], (_READER, True)),
        (_PROXY_NETWORKS, _PEER, [fwd('for="[2a02:6b8::1]:4711"')], ("2a02:6b8::1", True)),
        (_PROXY_NETWORKS, _PEER, [fwd(f'for="{_READER}:80" ; by=10.0.0.1')], (_READER, True)),
        (_PROXY_NETWORKS, _PEER, [fwd(f"for={_OTHER}, for={_READER};proto=https, for=10.0.0.2")], (_READER, True)),
        (_PROXY_NETWORKS, _PEER, [fwd(f"for={_OTHER}"), fwd(f"for={_READER}")], (_READER, True)),
        (_PROXY_NETWORKS, _PEER, [fwd(f"for={_READER}"), fwd("for=10.0.0.2")], (_READER, True)),
        (_PROXY_NETWORKS, _PEER, [fwd("for=10.0.0.3, for=10.0.0.2")], ("10.0.0.3", True)),
        (_PROXY_NETWORKS, _PEER, [fwd(f"for={_READER}, for=_hidden")], (None, True)),
        (_PROXY_NETWORKS, _PEER, [fwd(f"for={_READER}, for=unknown;proto=http")], (None, True)),
        (_PROXY_NETWORKS, _PEER, [fwd(f"for={_READER}, proto=https")], (None, True)),
        (_PROXY_NETWORKS, _PEER, [fwd(f"for={_READER};for=10.0.0.2")], (None, True)),
        (_PROXY_NETWORKS, _PEER, [fwd(f'for="{_READER}')], (None, True)),
        (_PROXY_NETWORKS, _PEER, [fwd(f"for={_READER} garbage")], (None, True)),
        # What the client wrote cannot be read; what the trusted proxy appended after it can.
        (_PROXY_NETWORKS, _PEER, [fwd(f"garbage, for={_READER}")], (_READER, True)),
        (_PROXY_NETWORKS, _PEER, [fwd(f'for="x, for={_READER}, for=10.0.0.2')], (_READER, True)),
        (_PROXY_NETWORKS, _PEER, [fwd('for="x, for=10.0.0.2')], (None, True)),
        # Both: they must agree, or a client could have written one of them.
        (_PROXY_NETWORKS, _PEER, [fwd(f"for={_READER}"), xff(_READER)], (_READER, True)),
        (_PROXY_NETWORKS, _PEER, [fwd(f"for={_OTHER}"), xff(_READER)], (None, True)),
        (_PROXY_NETWORKS, _PEER, [xff(f"{_OTHER}, {_READER}"), fwd(f"for={_READER}")], (_READER, True)),
        (_PROXY_NETWORKS, _PEER, [fwd("proto=https"), xff(_READER)], (_READER, True)),
    ],
)
def test_client_address(
    trusted: list[str],
    peer: str | None,
    headers: list[tuple[str, str | bytes]],
    expected: tuple[str | None, bool],
) -> None:
    assert client_address(make_scope(peer, headers), TrustedProxies(trusted)) == expected


def test_headers_of_an_untrusted_peer_are_ignored() -> None:
    # A reader who writes their own X-Forwarded-For does not choose their address.
    scope = make_scope(_READER, [xff(_OTHER), fwd(f"for={_OTHER}")])
    assert client_address(scope, TrustedProxies([])) == (_READER, False)
    assert client_address(scope, TrustedProxies(_PROXY_NETWORKS)) == (_READER, False)


def test_spoofed_left_entries_do_not_win() -> None:
    # The reader sent "X-Forwarded-For: 8.8.8.8"; the trusted proxy appended the real address.
    scope = make_scope(_PEER, [xff(f"{_OTHER}, {_READER}")])
    assert client_address(scope, TrustedProxies(_PROXY_NETWORKS)) == (_READER, True)


def test_starlette_testclient_peer_is_not_an_address() -> None:
    assert client_address(make_scope("testclient"), TrustedProxies(_PROXY_NETWORKS)) == (None, False)


def test_scope_without_client_or_headers() -> None:
    assert client_address({"type": "http"}, TrustedProxies(_PROXY_NETWORKS)) == (None, False)
    assert client_address({"type": "http", "client": (_PEER, 1)}, TrustedProxies(_PROXY_NETWORKS)) == (_PEER, True)


def test_absurd_forwarding_headers_do_not_raise() -> None:
    trusted = TrustedProxies(_PROXY_NETWORKS)
    long_chain = ", ".join(["10.0.0.9"] * 20_000) + ", " + _READER + ", 10.0.0.2"
    assert client_address(make_scope(_PEER, [xff(long_chain)]), trusted) == (_READER, True)
    assert client_address(make_scope(_PEER, [xff("," * 50_000)]), trusted) == (_PEER, True)
    assert client_address(make_scope(_PEER, [fwd('for="' + "\\" * 10_001)]), trusted) == (None, True)
    assert client_address(make_scope(_PEER, [fwd(bytes(range(256)))]), trusted) == (None, True)
