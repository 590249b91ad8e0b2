"""Fixtures with real .mmdb files: import the ones a test module uses.

Each fixture function is named `fixture_<name>` and registered as `<name>`, so a
test module imports `fixture_city_db` (with `# noqa: F401`) and asks for `city_db`.

The networks are public ones (the resolver never looks up private or
documentation addresses), and the addresses below are in them. What the test
databases say differs on purpose from the embedded table where that shows which
source answered (`DE_BY_GEOIP` is US in the registries).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from mmdb import city_record, country_record, write_city_db, write_country_db

RU_V4 = "95.173.136.70"
RU_V6 = "2a02:6b8::1"
US_V4 = "8.8.8.8"
UA_43_V4 = "46.33.1.2"
UA_43_V6 = "2a01:5d8::7"
#: In the test databases: country DE, registered_country US (the network's owner).
DE_BY_GEOIP = "9.9.9.9"
#: In the City databases: England, then its most specific subdivision, Westminster.
GB_WSM_V4 = "81.2.69.160"
#: In no test database; the embedded table says AU.
AU_EMBEDDED = "1.1.1.1"

COUNTRY_ENTRIES: dict[str, str | dict[str, object]] = {
    "95.173.136.0/24": "RU",
    "2a02:6b8::/32": "RU",
    "8.8.8.0/24": "US",
    "46.33.0.0/16": "UA",
    "2a01:5d8::/32": "UA",
}
CITY_ENTRIES: dict[str, str | dict[str, object]] = {
    "95.173.136.0/24": "RU",
    "2a02:6b8::/32": "RU",
    "8.8.8.0/24": "US-CA",
    "46.33.0.0/16": "UA-43",
    "2a01:5d8::/32": "UA-43",
    "9.9.9.0/24": city_record("DE", ["BY"], registered_country="US", city="Munich"),
    "81.2.69.0/24": city_record("GB", ["ENG", "WSM"], city="London"),
}


@pytest.fixture(scope="session", name="geo_dir")
def fixture_geo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("geo")


@pytest.fixture(scope="session", name="country_db")
def fixture_country_db(geo_dir: Path) -> Path:
    """A GeoIP2-Country database."""
    entries = {**COUNTRY_ENTRIES, "9.9.9.0/24": country_record("DE", registered_country="US")}
    return write_country_db(geo_dir / "GeoIP2-Country-Test.mmdb", entries)


@pytest.fixture(scope="session", name="city_db")
def fixture_city_db(geo_dir: Path) -> Path:
    """A GeoIP2-City database."""
    return write_city_db(geo_dir / "GeoIP2-City-Test.mmdb", CITY_ENTRIES)


@pytest.fixture(scope="session", name="enterprise_db")
def fixture_enterprise_db(geo_dir: Path) -> Path:
    """A GeoIP2-Enterprise database (the City shape)."""
    return write_city_db(geo_dir / "GeoIP2-Enterprise-Test.mmdb", CITY_ENTRIES, database_type="GeoIP2-Enterprise")
