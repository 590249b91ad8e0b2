"""`forwarded_header="fastly-client-ip"`: the reader's address from Fastly's `Fastly-Client-IP`, believed only
from trusted proxies, through a real server."""

from __future__ import annotations

from pathlib import Path

import pytest

from compliance.errors import ConfigError
from compliance.reader.resolve import JurisdictionResolver
from tests.conftest import RU_IP, US_IP
from tests.test_attacks import attacked, noticed


def test_the_address_fastly_sends_places_the_reader(tmp_path: Path) -> None:
    with attacked(tmp_path, forwarded_header="fastly-client-ip") as client:
        assert client.get("/blocked/x", headers={"Fastly-Client-IP": RU_IP}).status_code == 451
        assert noticed(client.get("/news/a", headers={"Fastly-Client-IP": RU_IP}))
        assert client.get("/blocked/x", headers={"Fastly-Client-IP": US_IP}).status_code == 200
        # Fastly also writes X-Forwarded-For; it is not read, so a value the client put there changes nothing.
        headers = {"Fastly-Client-IP": RU_IP, "X-Forwarded-For": US_IP, "Forwarded": f"for={US_IP}"}
        assert client.get("/blocked/x", headers=headers).status_code == 451


def test_an_untrusted_peer_sending_fastly_client_ip_is_not_believed(tmp_path: Path) -> None:
    # The server's peer (127.0.0.1) is not a trusted proxy: the header is the client's own word.
    with attacked(tmp_path, forwarded_header="fastly-client-ip", trusted_proxies=["192.0.2.1"]) as client:
        assert client.get("/blocked/x", headers={"Fastly-Client-IP": RU_IP}).status_code == 200
        assert not noticed(client.get("/news/a", headers={"Fastly-Client-IP": RU_IP}))


def test_without_the_option_fastly_client_ip_is_not_read(tmp_path: Path) -> None:
    with attacked(tmp_path) as client:
        headers = {"Fastly-Client-IP": US_IP, "X-Forwarded-For": RU_IP}
        assert client.get("/blocked/x", headers=headers).status_code == 451
        assert client.get("/blocked/x", headers={"Fastly-Client-IP": RU_IP}).status_code == 200


def test_contradicting_or_unreadable_values_leave_the_reader_unknown() -> None:
    resolver = JurisdictionResolver(trusted_proxies=["127.0.0.1"], forwarded_header="Fastly-Client-IP")

    def resolve(*values: bytes) -> str | None:
        scope = {"client": ("127.0.0.1", 1), "headers": [(b"fastly-client-ip", v) for v in values]}
        return resolver.resolve(scope).country

    assert resolve(RU_IP.encode()) == "RU"
    assert resolve(RU_IP.encode(), RU_IP.encode()) == "RU"  # the same address twice
    assert resolve(RU_IP.encode(), US_IP.encode()) is None  # two different: neither is believed
    assert resolve(f"{US_IP}, {RU_IP}".encode()) is None  # a list is not what Fastly sends
    assert resolve(b"not-an-address") is None
    assert resolver.client_ip({"client": ("127.0.0.1", 1), "headers": [(b"fastly-client-ip", RU_IP.encode())]}) == RU_IP
    # From an untrusted peer, the peer is the reader.
    assert resolver.client_ip({"client": ("192.0.2.7", 1), "headers": [(b"fastly-client-ip", RU_IP.encode())]}) == (
        "192.0.2.7"
    )


def test_an_unknown_forwarded_header_is_refused() -> None:
    with pytest.raises(ConfigError, match="fastly-client-ip"):
        JurisdictionResolver(forwarded_header="true-client-ip")
