from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from conftest_geo import (  # noqa: F401  (fixtures)
    AU_EMBEDDED,
    DE_BY_GEOIP,
    GB_WSM_V4,
    RU_V4,
    RU_V6,
    UA_43_V4,
    UA_43_V6,
    US_V4,
    fixture_city_db,
    fixture_country_db,
    fixture_enterprise_db,
    fixture_geo_dir,
)
from mmdb import country_record, write_db

from compliance.errors import ConfigError
from compliance.reader.address import is_public
from compliance.reader.databases import EmbeddedResolver, GeoIP2Resolver, StaticResolver
from compliance.reader.jurisdiction import (
    UNKNOWN_JURISDICTION,
    Jurisdiction,
    country_codes,
    database_codes,
    normalise_country,
    normalise_subdivision,
    subdivision_codes,
)
from compliance.reader.resolve import JurisdictionResolver

_PROXY = "10.0.0.1"
_PROXIES = ["10.0.0.0/8"]
#: What the static table says, distinct from what a header would say.
_STATIC = {"95.173.136.0/24": "RU", "8.8.8.0/24": "US", "46.33.0.0/16": "UA-43"}


def make_scope(peer: str | None, headers: Sequence[tuple[str, str | bytes]] = ()) -> dict[str, Any]:
    return {
        "type": "http",
        "client": None if peer is None else (peer, 51000),
        "headers": [
            (name.lower().encode("latin-1"), value if isinstance(value, bytes) else value.encode("latin-1"))
            for name, value in headers
        ],
    }


class CountingResolver:
    def __init__(self, inner: StaticResolver) -> None:
        self.inner = inner
        self.calls: list[str] = []

    def lookup(self, ip: str) -> Jurisdiction | None:
        self.calls.append(ip)
        return self.inner.lookup(ip)


@pytest.mark.parametrize(
    ("ip", "expected"),
    [
        ("95.173.136.70", True),
        ("8.8.8.8", True),
        ("2a02:6b8::1", True),
        ("::ffff:95.173.136.70", True),
        ("10.1.2.3", False),
        ("172.16.0.1", False),
        ("192.168.1.1", False),
        ("127.0.0.1", False),
        ("::1", False),
        ("169.254.1.1", False),
        ("fe80::1", False),
        ("fc00::1", False),
        ("100.64.0.1", False),
        ("0.0.0.0", False),
        ("::", False),
        ("240.0.0.1", False),
        ("255.255.255.255", False),
        ("224.0.0.1", False),
        ("ff02::1", False),
        ("192.0.2.1", False),
        ("198.51.100.1", False),
        ("203.0.113.7", False),
        ("2001:db8::1", False),
        ("3fff::1", False),
        ("fec0::1", False),
        ("64:ff9b::808:808", False),
        ("2001::1", False),
        ("2002:5fad:8846::1", True),
        ("::FFFF:0808:0808", True),
        ("::ffff:10.0.0.1", False),
        ("testclient", False),
        ("", False),
        ("01.2.3.4", False),
        ("fe80::1%eth0", False),
    ],
)
def test_is_public(ip: str, expected: bool) -> None:
    assert is_public(ip) is expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("RU", "RU"),
        (" ru ", "RU"),
        ("Ua", "UA"),
        ("XK", "XK"),
        ("T1", "T1"),
        ("t1", "T1"),
        ("XX", None),
        ("ZZ", None),
        ("", None),
        ("   ", None),
        ("RUS", None),
        ("EU", None),
        ("A1", None),
        ("R", None),
        ("РУ", None),
        ("R" * 1000, None),
    ],
)
def test_normalise_country(value: str, expected: str | None) -> None:
    assert normalise_country(value) == expected


@pytest.mark.parametrize(
    ("country", "value", "expected"),
    [
        ("UA", "43", "UA-43"),
        ("UA", " UA-43 ", "UA-43"),
        ("US", "CA", "US-CA"),
        ("US", "ca", "US-CA"),
        ("US", "ZZ", None),
        ("UA", "99", None),
        ("RU", "UA-43", None),
        ("UA", "", None),
        ("UA", "-", None),
        ("UA", "4" * 500, None),
    ],
)
def test_normalise_subdivision(country: str, value: str, expected: str | None) -> None:
    assert normalise_subdivision(country, value) == expected


def test_the_code_tables_read_from_pycountrys_files_are_its_codes() -> None:
    # The tables are read from the JSON files pycountry ships (no import of pycountry on a worker):
    # every code its objects know is known, and nothing else but Kosovo.
    import pycountry

    assert country_codes() == {c.alpha_2 for c in pycountry.countries} | {"XK"}
    assert subdivision_codes() == {s.code for s in pycountry.subdivisions}
    assert database_codes("639-3", "alpha_3") == {lang.alpha_3 for lang in pycountry.languages}
    assert len(subdivision_codes()) > 4000 and "RU-MOW" in subdivision_codes()


def test_static_resolver_most_specific_network_wins() -> None:
    resolver = StaticResolver({"95.0.0.0/8": "TR", "95.173.136.0/24": "RU", "95.173.136.70": "anonymous"})
    assert resolver.lookup("95.1.1.1") == Jurisdiction("TR", None, False, "static")
    assert resolver.lookup("95.173.136.1") == Jurisdiction("RU", None, False, "static")
    assert resolver.lookup("95.173.136.70") == Jurisdiction(None, None, True, "static")
    assert resolver.lookup("8.8.8.8") is None
    assert resolver.lookup("2a02:6b8::1") is None


def test_static_resolver_values() -> None:
    resolver = StaticResolver({"46.33.0.0/16": "UA-43", "2a02:6b8::/32": "unknown", "::ffff:8.8.8.8": "US"})
    assert resolver.lookup("46.33.1.2") == Jurisdiction("UA", "UA-43", False, "static")
    assert resolver.lookup("2a02:6b8::1") == Jurisdiction(None, None, False, "static")
    assert resolver.lookup("8.8.8.8") == Jurisdiction("US", None, False, "static")


@pytest.mark.parametrize(
    ("mapping", "match"),
    [
        ({"95.173.136.0/24": "Russia"}, "'Russia'"),
        ({"95.173.136.0/24": "XX"}, "'XX'"),
        ({"95.173.136.0/24": "T1"}, "'T1'"),
        ({"95.173.136.0/24": "UA-99"}, "'UA-99'"),
        ({"95.173.136.0/24": "ru"}, "'ru'"),
        ({"95.173.136.1/24": "RU"}, "'95.173.136.1/24'"),
        ({"example.org": "RU"}, "'example.org'"),
    ],
)
def test_static_resolver_rejects_bad_entries(mapping: dict[str, str], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        StaticResolver(mapping)


def test_embedded_resolver_is_the_default() -> None:
    resolver = JurisdictionResolver()
    assert resolver.resolve(make_scope(RU_V4)) == Jurisdiction("RU", None, False, "embedded")
    assert resolver.resolve(make_scope(US_V4)) == Jurisdiction("US", None, False, "embedded")
    assert resolver.resolve(make_scope(RU_V6)) == Jurisdiction("RU", None, False, "embedded")
    assert resolver.resolve(make_scope("::ffff:95.173.136.70")) == Jurisdiction("RU", None, False, "embedded")


def test_embedded_resolver_lookup() -> None:
    resolver = EmbeddedResolver()
    assert resolver.lookup(RU_V4) == Jurisdiction("RU", None, False, "embedded")
    assert resolver.lookup("not an address") is None


@pytest.mark.parametrize(
    "peer",
    ["10.1.2.3", "192.168.0.10", "127.0.0.1", "::1", "fe80::1%eth0", "169.254.0.9", "100.64.3.3", "240.0.0.1"],
)
def test_private_and_reserved_addresses_are_unknown(peer: str) -> None:
    # Even where the address source would claim them.
    resolver = JurisdictionResolver(
        resolver=StaticResolver(
            {"0.0.0.0/0": "RU", "::/0": "RU"},
        )
    )
    assert resolver.resolve(make_scope(peer)) == UNKNOWN_JURISDICTION
    assert resolver.resolve(make_scope(RU_V4)).country == "RU"


@pytest.mark.parametrize("peer", ["testclient", None, "unix:/run/app.sock"])
def test_peer_that_is_not_an_address_is_unknown(peer: str | None) -> None:
    resolver = JurisdictionResolver(resolver=StaticResolver({"0.0.0.0/0": "RU"}))
    assert resolver.resolve(make_scope(peer)) == UNKNOWN_JURISDICTION


def test_address_source_that_does_not_know_is_unknown() -> None:
    resolver = JurisdictionResolver(resolver=StaticResolver(_STATIC))
    assert resolver.resolve(make_scope(AU_EMBEDDED)) == Jurisdiction(None, None, False, "none")


def test_forwarded_client_is_looked_up() -> None:
    resolver = JurisdictionResolver(trusted_proxies=_PROXIES, resolver=StaticResolver(_STATIC))
    scope = make_scope(_PROXY, [("X-Forwarded-For", f"{US_V4}, {RU_V4}")])
    assert resolver.resolve(scope) == Jurisdiction("RU", None, False, "static")
    resolver = JurisdictionResolver(
        trusted_proxies=_PROXIES, forwarded_header="Forwarded", resolver=StaticResolver(_STATIC)
    )
    scope = make_scope(_PROXY, [("Forwarded", f'for="{UA_43_V4}:1234"')])
    assert resolver.resolve(scope) == Jurisdiction("UA", "UA-43", False, "static")


def test_every_forwarding_header_instance_is_read() -> None:
    resolver = JurisdictionResolver(trusted_proxies=_PROXIES, resolver=StaticResolver(_STATIC))
    scope = make_scope(_PROXY, [("X-Forwarded-For", RU_V4), ("Accept", "*/*"), ("X-Forwarded-For", "10.0.0.2")])
    assert resolver.resolve(scope) == Jurisdiction("RU", None, False, "static")
    resolver = JurisdictionResolver(
        trusted_proxies=_PROXIES, forwarded_header="forwarded", resolver=StaticResolver(_STATIC)
    )
    scope = make_scope(_PROXY, [("Forwarded", f"for={UA_43_V4}"), ("Forwarded", "for=10.0.0.2")])
    assert resolver.resolve(scope) == Jurisdiction("UA", "UA-43", False, "static")


def test_forwarding_headers_of_an_untrusted_peer_are_ignored() -> None:
    resolver = JurisdictionResolver(trusted_proxies=_PROXIES, resolver=StaticResolver(_STATIC))
    scope = make_scope(US_V4, [("X-Forwarded-For", RU_V4), ("Forwarded", f"for={RU_V4}")])
    assert resolver.resolve(scope).country == "US"


def header_resolver(**options: Any) -> JurisdictionResolver:
    return JurisdictionResolver(trusted_proxies=_PROXIES, resolver=StaticResolver(_STATIC), **options)


def test_cdn_header_is_believed_from_a_trusted_proxy() -> None:
    resolver = header_resolver(country_header="CF-IPCountry")
    scope = make_scope(_PROXY, [("X-Forwarded-For", US_V4), ("CF-IPCountry", " ru ")])
    assert resolver.resolve(scope) == Jurisdiction("RU", None, False, "header")


def test_cdn_header_is_ignored_from_an_untrusted_peer() -> None:
    resolver = header_resolver(country_header="CF-IPCountry")
    assert resolver.resolve(make_scope(US_V4, [("CF-IPCountry", "RU")])) == Jurisdiction("US", None, False, "static")


def test_cdn_header_is_not_believed_by_default() -> None:
    resolver = header_resolver()
    scope = make_scope(_PROXY, [("X-Forwarded-For", US_V4), ("CF-IPCountry", "RU")])
    assert resolver.resolve(scope) == Jurisdiction("US", None, False, "static")
    assert resolver.uses_header is False
    assert header_resolver(country_header="CF-IPCountry").uses_header is True


@pytest.mark.parametrize("value", ["XX", "ZZ", "", "Russia", "R", "\xff\xfe", "RU" * 100])
def test_cdn_header_that_does_not_know_falls_through_to_the_address(value: str) -> None:
    resolver = header_resolver(country_header="CF-IPCountry")
    scope = make_scope(_PROXY, [("X-Forwarded-For", US_V4), ("CF-IPCountry", value)])
    assert resolver.resolve(scope) == Jurisdiction("US", None, False, "static")


def test_cdn_tor_value_is_anonymous_with_unknown_country() -> None:
    resolver = header_resolver(country_header="CF-IPCountry")
    scope = make_scope(_PROXY, [("X-Forwarded-For", US_V4), ("CF-IPCountry", "T1")])
    jurisdiction = resolver.resolve(scope)
    assert jurisdiction == Jurisdiction(None, None, True, "header", kinds=frozenset({"tor"}))
    assert jurisdiction.codes == {"unknown", "anonymous", "tor"}


def test_contradictory_cdn_headers_fall_through() -> None:
    resolver = header_resolver(country_header="CF-IPCountry")
    scope = make_scope(_PROXY, [("X-Forwarded-For", US_V4), ("CF-IPCountry", "RU"), ("CF-IPCountry", "UA")])
    assert resolver.resolve(scope) == Jurisdiction("US", None, False, "static")


@pytest.mark.parametrize(
    ("country_header", "region_header", "headers", "expected"),
    [
        (
            "CloudFront-Viewer-Country",
            "CloudFront-Viewer-Country-Region",
            [("CloudFront-Viewer-Country", "UA"), ("CloudFront-Viewer-Country-Region", "43")],
            Jurisdiction("UA", "UA-43", False, "header"),
        ),
        (
            "CF-IPCountry",
            "cf-region-code",
            [("CF-IPCountry", "US"), ("cf-region-code", "CA")],
            Jurisdiction("US", "US-CA", False, "header"),
        ),
        (
            "CF-IPCountry",
            "cf-region-code",
            [("CF-IPCountry", "ua"), ("cf-region-code", "UA-43")],
            Jurisdiction("UA", "UA-43", False, "header"),
        ),
        (
            "CF-IPCountry",
            "cf-region-code",
            [("CF-IPCountry", "UA"), ("cf-region-code", "99")],
            Jurisdiction("UA", None, False, "header"),
        ),
        (
            "CF-IPCountry",
            "cf-region-code",
            [("CF-IPCountry", "RU"), ("cf-region-code", "UA-43")],
            Jurisdiction("RU", None, False, "header"),
        ),
        (
            "CF-IPCountry",
            "cf-region-code",
            [("CF-IPCountry", "UA"), ("cf-region-code", "43"), ("cf-region-code", "40")],
            Jurisdiction("UA", None, False, "header"),
        ),
        (
            "CF-IPCountry",
            None,
            [("CF-IPCountry", "UA"), ("cf-region-code", "43")],
            Jurisdiction("UA", None, False, "header"),
        ),
        (
            "CF-IPCountry",
            "cf-region-code",
            [("CF-IPCountry", "T1"), ("cf-region-code", "43")],
            Jurisdiction(None, None, True, "header", kinds=frozenset({"tor"})),
        ),
    ],
)
def test_cdn_region_header(
    country_header: str, region_header: str | None, headers: list[tuple[str, str]], expected: Jurisdiction
) -> None:
    resolver = header_resolver(country_header=country_header, region_header=region_header)
    assert resolver.resolve(make_scope(_PROXY, [("X-Forwarded-For", US_V4), *headers])) == expected


@pytest.mark.parametrize(
    ("ip", "expected"),
    [
        (RU_V4, Jurisdiction("RU", None, False, "geoip")),
        (RU_V6, Jurisdiction("RU", None, False, "geoip")),
        (UA_43_V4, Jurisdiction("UA", None, False, "geoip")),
        (UA_43_V6, Jurisdiction("UA", None, False, "geoip")),
        (DE_BY_GEOIP, Jurisdiction("DE", None, False, "geoip")),
        ("::ffff:95.173.136.70", Jurisdiction("RU", None, False, "geoip")),
        (AU_EMBEDDED, Jurisdiction("AU", None, False, "embedded")),
    ],
)
def test_country_database(country_db: Path, ip: str, expected: Jurisdiction) -> None:
    with JurisdictionResolver(geoip_db=country_db) as resolver:
        assert resolver.resolve(make_scope(ip)) == expected


@pytest.mark.parametrize(
    ("ip", "expected"),
    [
        (RU_V4, Jurisdiction("RU", None, False, "geoip")),
        (RU_V6, Jurisdiction("RU", None, False, "geoip")),
        (US_V4, Jurisdiction("US", "US-CA", False, "geoip")),
        (UA_43_V4, Jurisdiction("UA", "UA-43", False, "geoip")),
        (UA_43_V6, Jurisdiction("UA", "UA-43", False, "geoip")),
        (f"[{UA_43_V6}]:443", Jurisdiction("UA", "UA-43", False, "geoip")),
        (DE_BY_GEOIP, Jurisdiction("DE", "DE-BY", False, "geoip")),
        (GB_WSM_V4, Jurisdiction("GB", "GB-WSM", False, "geoip")),
        (AU_EMBEDDED, Jurisdiction("AU", None, False, "embedded")),
    ],
)
def test_city_database(city_db: Path, ip: str, expected: Jurisdiction) -> None:
    with JurisdictionResolver(geoip_db=city_db) as resolver:
        assert resolver.resolve(make_scope(ip)) == expected
        assert resolver.resolve_ip(ip) == expected


def test_enterprise_database(enterprise_db: Path) -> None:
    with GeoIP2Resolver(enterprise_db) as resolver:
        assert resolver.lookup(UA_43_V4) == Jurisdiction("UA", "UA-43", False, "geoip")
        assert resolver.lookup(AU_EMBEDDED) is None


def test_database_country_is_the_readers_not_the_registered_one(country_db: Path, city_db: Path) -> None:
    # The network is registered to a US owner, and the embedded table says US too.
    assert EmbeddedResolver().lookup(DE_BY_GEOIP) == Jurisdiction("US", None, False, "embedded")
    for path in (country_db, city_db):
        with GeoIP2Resolver(path) as resolver:
            answer = resolver.lookup(DE_BY_GEOIP)
            assert answer is not None
            assert answer.country == "DE"


def test_database_record_without_country_does_not_know(geo_dir: Path) -> None:
    path = write_db(
        geo_dir / "registered-only.mmdb",
        {"9.9.9.0/24": country_record(None, registered_country="US"), "8.8.8.0/24": {"country": "US"}},
        database_type="GeoIP2-Country",
    )
    with GeoIP2Resolver(path) as resolver:
        assert resolver.lookup(DE_BY_GEOIP) is None
        assert resolver.lookup(US_V4) is None


def test_database_resolver_is_the_address_source(city_db: Path) -> None:
    # Given, it is asked rather than the database or the embedded table.
    resolver = JurisdictionResolver(geoip_db=city_db, resolver=StaticResolver({"46.33.0.0/16": "RU"}))
    assert resolver.resolve(make_scope(UA_43_V4)) == Jurisdiction("RU", None, False, "static")
    assert resolver.resolve(make_scope(AU_EMBEDDED)) == UNKNOWN_JURISDICTION


def test_cdn_header_wins_over_the_database(city_db: Path) -> None:
    resolver = JurisdictionResolver(geoip_db=city_db, trusted_proxies=_PROXIES, country_header="CF-IPCountry")
    scope = make_scope(_PROXY, [("X-Forwarded-For", UA_43_V4), ("CF-IPCountry", "PL")])
    assert resolver.resolve(scope) == Jurisdiction("PL", None, False, "header")
    scope = make_scope(_PROXY, [("X-Forwarded-For", UA_43_V4), ("CF-IPCountry", "XX")])
    assert resolver.resolve(scope) == Jurisdiction("UA", "UA-43", False, "geoip")


@pytest.mark.parametrize("database_type", ["GeoIP2-Anonymous-IP", "GeoLite2-ASN", "GeoIP2-ISP"])
def test_unsupported_database_type_is_a_config_error(geo_dir: Path, database_type: str) -> None:
    entries = {"9.9.9.0/24": {"is_anonymous": True}}
    path = write_db(geo_dir / f"{database_type}.mmdb", entries, database_type=database_type)
    with pytest.raises(ConfigError, match=database_type):
        GeoIP2Resolver(path)


def test_missing_database_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "GeoLite2-Country.mmdb"
    with pytest.raises(ConfigError, match="GeoLite2-Country.mmdb") as info:
        JurisdictionResolver(geoip_db=path)
    assert "No such file" in str(info.value)


@pytest.mark.parametrize("content", [b"", b"not a database" * 100])
def test_corrupt_database_is_a_config_error(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "broken.mmdb"
    path.write_bytes(content)
    with pytest.raises(ConfigError, match="broken.mmdb"):
        GeoIP2Resolver(path)


def test_closed_database_is_not_silently_unknown(country_db: Path) -> None:
    resolver = GeoIP2Resolver(country_db)
    resolver.close()
    with pytest.raises(ValueError):
        resolver.lookup(RU_V4)


def test_damaged_record_is_logged_and_unknown(country_db: Path, caplog: pytest.LogCaptureFixture) -> None:
    import maxminddb

    resolver = GeoIP2Resolver(country_db)

    def damaged(ip: str) -> None:
        raise maxminddb.InvalidDatabaseError("bad pointer")

    resolver._get = damaged  # type: ignore[assignment]
    with caplog.at_level(logging.WARNING, logger="compliance"):
        assert resolver.lookup(RU_V4) is None
    assert "bad pointer" in caplog.text
    resolver.close()


@pytest.mark.parametrize(
    ("option", "value", "match"),
    [
        ("country_header", "CF IPCountry", "country_header"),
        ("country_header", "", "country_header"),
        ("country_header", "X-Forwarded-For", "'x-forwarded-for' cannot be a CDN header"),
        ("cache_size", -1, "cache_size"),
        ("cache_size", 1.5, "cache_size"),
        ("trusted_proxies", ["10.0.0.0/8", "proxy.internal"], "proxy.internal"),
    ],
)
def test_bad_options_are_config_errors(option: str, value: Any, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        JurisdictionResolver(**{option: value})


def test_region_header_needs_a_country_header() -> None:
    with pytest.raises(ConfigError, match="region_header"):
        JurisdictionResolver(region_header="cf-region-code")
    with pytest.raises(ConfigError, match="'cf-ipcountry' cannot be a CDN header"):
        JurisdictionResolver(country_header="CF-IPCountry", region_header="cf-ipcountry")


_GARBAGE_HEADERS: list[list[tuple[str, str | bytes]]] = [
    [("X-Forwarded-For", b"\xff\xfe\xfd")],
    [("X-Forwarded-For", "," * 100_000)],
    [("X-Forwarded-For", "1" * 100_000)],
    [("X-Forwarded-For", ", ".join(["10.0.0.9"] * 10_000))],
    [("Forwarded", 'for="[2a02:6b8::1]:80')],
    [("Forwarded", "for=" + "\\" * 10_000)],
    [("Forwarded", bytes(range(256)))],
    [("Forwarded", "=;=,=")],
    [("CF-IPCountry", b"\xd0\xa0\xd0\xa3")],
    [("CF-IPCountry", "R" * 100_000)],
    [("CF-IPCountry", "UA"), ("cf-region-code", b"\xff" * 100_000)],
    [("CF-IPCountry", "UA"), ("cf-region-code", "UA-UA-UA")],
]


@pytest.mark.parametrize("peer", ["10.0.0.1", RU_V4, "testclient", None, "\x00", "9" * 10_000])
@pytest.mark.parametrize("headers", _GARBAGE_HEADERS)
def test_garbage_never_raises(peer: str | None, headers: list[tuple[str, str | bytes]]) -> None:
    resolver = JurisdictionResolver(
        trusted_proxies=["10.0.0.0/8"], country_header="CF-IPCountry", region_header="cf-region-code"
    )
    assert isinstance(resolver.resolve(make_scope(peer, headers)), Jurisdiction)


def test_garbage_scope_never_raises() -> None:
    resolver = JurisdictionResolver(trusted_proxies=["*"], country_header="CF-IPCountry")
    scopes: list[dict[str, Any]] = [{}, {"client": None}, {"client": (RU_V4, 1), "headers": None}, {"headers": []}]
    for scope in scopes:
        assert isinstance(resolver.resolve(scope), Jurisdiction)


def test_absurd_cdn_header_values_are_not_cached() -> None:
    resolver = header_resolver(country_header="CF-IPCountry", region_header="cf-region-code")
    for n in range(50):
        headers = [("X-Forwarded-For", US_V4), ("CF-IPCountry", "UA" + " " * (n + 20)), ("cf-region-code", "4" * 9999)]
        assert resolver.resolve(make_scope(_PROXY, headers)) == Jurisdiction("US", None, False, "static")
    for n in range(50):
        headers = [("X-Forwarded-For", US_V4), ("CF-IPCountry", "UA" + " " * (n + 20))]
        assert resolver.resolve(make_scope(_PROXY, headers)) == Jurisdiction("US", None, False, "static")
    headers = [("X-Forwarded-For", US_V4), ("CF-IPCountry", "UA"), ("cf-region-code", "43" + " " * 9999)]
    assert resolver.resolve(make_scope(_PROXY, headers)) == Jurisdiction("UA", None, False, "header")
    assert all(len(country) + len(region or b"") < 40 for country, region in resolver._header_cache)


def test_cache_returns_the_same_answer() -> None:
    counting = CountingResolver(StaticResolver(_STATIC))
    resolver = JurisdictionResolver(resolver=counting)
    first = resolver.resolve(make_scope(RU_V4))
    assert first == Jurisdiction("RU", None, False, "static")
    assert resolver.resolve(make_scope(RU_V4)) is first
    assert resolver.resolve(make_scope(f"::ffff:{RU_V4}")) is first
    assert resolver.resolve_ip(RU_V4) is first
    assert counting.calls == [RU_V4]


def test_cache_is_bounded() -> None:
    counting = CountingResolver(StaticResolver(_STATIC))
    resolver = JurisdictionResolver(resolver=counting, cache_size=2)
    for ip in (RU_V4, US_V4, UA_43_V4, "95.173.136.71"):
        resolver.resolve(make_scope(ip))
    assert len(resolver._cache) <= 2
    assert resolver.resolve(make_scope(RU_V4)) == Jurisdiction("RU", None, False, "static")


def test_no_cache() -> None:
    counting = CountingResolver(StaticResolver(_STATIC))
    resolver = JurisdictionResolver(resolver=counting, cache_size=0)
    resolver.resolve(make_scope(RU_V4))
    resolver.resolve(make_scope(RU_V4))
    assert counting.calls == [RU_V4, RU_V4]


def test_resolve_ip() -> None:
    resolver = JurisdictionResolver(resolver=StaticResolver(_STATIC))
    assert resolver.resolve_ip("[::ffff:46.33.1.2]:443") == Jurisdiction("UA", "UA-43", False, "static")
    assert resolver.resolve_ip("10.0.0.1") == UNKNOWN_JURISDICTION
    assert resolver.resolve_ip("garbage") == UNKNOWN_JURISDICTION


def test_close_closes_the_database_it_opened(country_db: Path) -> None:
    resolver = JurisdictionResolver(geoip_db=country_db)
    geoip = resolver.resolvers[0]
    assert isinstance(geoip, GeoIP2Resolver)
    resolver.close()
    with pytest.raises(ValueError):
        geoip.lookup(RU_V4)


def test_given_resolver_is_left_open(country_db: Path) -> None:
    geoip = GeoIP2Resolver(country_db)
    JurisdictionResolver(resolver=geoip).close()
    assert geoip.lookup(RU_V4) == Jurisdiction("RU", None, False, "geoip")
    geoip.close()
