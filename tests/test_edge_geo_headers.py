"""Every edge's geo header: Google Cloud's `UA43` region form, Netlify's `x-nf-geo` (base64 JSON),
Akamai's `X-Akamai-Edgescape`, and a configured header that cannot be read, logged once."""

from __future__ import annotations

import base64
import json
import logging
from typing import Any

import pytest

from compliance import ComplianceMiddleware, Jurisdiction
from compliance.errors import ConfigError
from compliance.reader.resolve import JurisdictionResolver
from tests.conftest import chunked_app, http_scope, rule_file, run_asgi

CDN = "10.0.0.1"


def _resolver(country_header: str, region_header: str | None = None) -> JurisdictionResolver:
    return JurisdictionResolver(
        trusted_proxies=["10.0.0.0/8"],
        cdn_proxies=["10.0.0.0/8"],
        country_header=country_header,
        region_header=region_header,
    )


def _scope(*headers: tuple[str, str | bytes]) -> dict[str, Any]:
    encoded = [(k.lower().encode(), v if isinstance(v, bytes) else v.encode()) for k, v in headers]
    return http_scope("/a", client=(CDN, 1), headers=encoded)


def _netlify(data: object) -> bytes:
    return base64.b64encode(json.dumps(data).encode())


@pytest.mark.parametrize(("region", "expected"), [("UA43", "UA-43"), ("43", "UA-43"), ("UA-43", "UA-43")])
def test_google_clouds_region_form(region: str, expected: str) -> None:
    resolver = _resolver("X-Client-Region", "X-Client-Region-Subdivision")
    found = resolver.resolve(_scope(("X-Client-Region", "UA"), ("X-Client-Region-Subdivision", region)))
    assert found == Jurisdiction("UA", expected, False, "header")


def test_google_clouds_form_for_a_region_whose_code_starts_like_its_country() -> None:
    resolver = _resolver("X-Client-Region", "X-Client-Region-Subdivision")
    found = resolver.resolve(_scope(("X-Client-Region", "US"), ("X-Client-Region-Subdivision", "USCA")))
    assert found.subdivision == "US-CA"


def test_netlifys_base64_json_header() -> None:
    resolver = _resolver("x-nf-geo")
    value = _netlify(
        {"city": "Simferopol", "country": {"code": "UA", "name": "Ukraine"}, "subdivision": {"code": "43"}}
    )
    assert resolver.resolve(_scope(("x-nf-geo", value))) == Jurisdiction("UA", "UA-43", False, "header")
    only_country = _netlify({"country": {"code": "NL"}})
    assert resolver.resolve(_scope(("x-nf-geo", only_country))) == Jurisdiction("NL", None, False, "header")


def test_akamais_edgescape_header() -> None:
    resolver = _resolver("X-Akamai-Edgescape")
    value = "georegion=246,country_code=US,region_code=CA,city=SANFRANCISCO,lat=37.77,long=-122.41"
    assert resolver.resolve(_scope(("X-Akamai-Edgescape", value))) == Jurisdiction("US", "US-CA", False, "header")


def test_a_compound_header_takes_no_region_header() -> None:
    with pytest.raises(ConfigError, match="carries the region itself"):
        _resolver("x-nf-geo", "x-region")


@pytest.mark.parametrize(
    ("header", "value"),
    [("x-nf-geo", b"not base64 json!"), ("X-Akamai-Edgescape", b"georegion=1,city=X"), ("CF-IPCountry", b"Russia")],
)
def test_a_configured_header_that_cannot_be_read_logs_once(
    header: str, value: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    resolver = _resolver(header)
    with caplog.at_level(logging.WARNING, logger="compliance"):
        caplog.clear()
        for _ in range(3):
            found = resolver.resolve(_scope(("X-Forwarded-For", "8.8.8.8"), (header, value)))
            assert found.source != "header"  # placed by the address instead
    said = [r.getMessage() for r in caplog.records if "cannot be read" in r.getMessage()]
    assert len(said) == 1 and header in said[0]


def test_a_cdn_that_does_not_know_is_not_logged(caplog: pytest.LogCaptureFixture) -> None:
    resolver = _resolver("CF-IPCountry")
    with caplog.at_level(logging.WARNING, logger="compliance"):
        caplog.clear()
        resolver.resolve(_scope(("X-Forwarded-For", "8.8.8.8"), ("CF-IPCountry", "XX")))
    assert not [r for r in caplog.records if "cannot be read" in r.getMessage()]


def test_through_the_middleware_a_netlify_reader_in_crimea_gets_the_notice(tmp_path: Any) -> None:
    rules = rule_file(tmp_path, "rules:\n  - {id: r, notice: warning, jurisdictions: [UA-43]}\n")
    app = ComplianceMiddleware(
        chunked_app([b"<html><body><p>x</p></body></html>"]),
        rules=rules,
        trusted_proxies=["10.0.0.0/8"],
        cdn_proxies=["10.0.0.0/8"],
        country_header="x-nf-geo",
    )
    crimea = _netlify({"country": {"code": "UA"}, "subdivision": {"code": "43"}})
    kyiv = _netlify({"country": {"code": "UA"}, "subdivision": {"code": "30"}})
    assert b"data-legal-notice" in run_asgi(app, _scope(("x-nf-geo", crimea))).body
    assert b"data-legal-notice" not in run_asgi(app, _scope(("x-nf-geo", kyiv))).body
