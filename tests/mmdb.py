"""Real MaxMind-format databases for tests, written with `mmdb_writer`.

Entries map a network (`"95.173.136.0/24"`, `"2a02:6b8::/32"`) to a code (`"RU"`,
`"UA-43"`) or to a whole record (see `country_record` and `city_record`). The files
are IPv6 trees with IPv4 in `::/96`, as MaxMind's own databases are, so IPv4 and
IPv6 lookups both work. Use public networks: the resolver never looks up private
or documentation addresses.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from mmdb_writer import MMDBWriter
from netaddr import IPSet

__all__ = ["city_record", "country_record", "write_city_db", "write_country_db", "write_db"]

Record = dict[str, Any]


def country_record(country: str | None, *, registered_country: str | None = None) -> Record:
    """A record of the GeoIP2-Country shape."""
    record: Record = {"continent": {"code": "EU", "geoname_id": 6255148, "names": {"en": "Europe"}}}
    if country is not None:
        record["country"] = {"iso_code": country, "geoname_id": 1, "names": {"en": country}}
    registered = registered_country or country
    if registered is not None:
        record["registered_country"] = {"iso_code": registered, "geoname_id": 2, "names": {"en": registered}}
    return record


def city_record(
    country: str | None,
    subdivisions: Sequence[str] = (),
    *,
    registered_country: str | None = None,
    city: str | None = None,
) -> Record:
    """A record of the GeoIP2-City shape; `subdivisions` are the parts after the dash, largest first."""
    record = country_record(country, registered_country=registered_country)
    if subdivisions:
        record["subdivisions"] = [
            {"iso_code": part, "geoname_id": 100 + index, "names": {"en": part}}
            for index, part in enumerate(subdivisions)
        ]
    if city is not None:
        record["city"] = {"geoname_id": 3, "names": {"en": city}}
    record["location"] = {"latitude": 50.0, "longitude": 30.0, "accuracy_radius": 100}
    return record


def write_db(path: str | os.PathLike[str], entries: Mapping[str, Record], *, database_type: str) -> Path:
    """Write `entries` (network -> record) as an IPv6 database of `database_type`."""
    writer = MMDBWriter(
        ip_version=6,
        database_type=database_type,
        languages=["en"],
        description="compliance test database",
        ipv4_compatible=True,
    )
    for network, record in entries.items():
        writer.insert_network(IPSet([network]), record)
    writer.to_db_file(os.fspath(path))
    return Path(path)


def write_country_db(
    path: str | os.PathLike[str],
    entries: Mapping[str, str | Record],
    *,
    database_type: str = "GeoIP2-Country",
) -> Path:
    """A Country database (`GeoIP2-Country`, or `GeoLite2-Country`); codes are countries."""
    return write_db(
        path,
        {net: value if isinstance(value, dict) else country_record(value) for net, value in entries.items()},
        database_type=database_type,
    )


def write_city_db(
    path: str | os.PathLike[str],
    entries: Mapping[str, str | Record],
    *,
    database_type: str = "GeoIP2-City",
) -> Path:
    """A City database (`GeoIP2-City`, `GeoLite2-City`, `GeoIP2-Enterprise`); `UA-43` sets a subdivision."""
    records: dict[str, Record] = {}
    for network, value in entries.items():
        if isinstance(value, dict):
            records[network] = value
        else:
            country, _, part = value.partition("-")
            records[network] = city_record(country, [part] if part else [])
    return write_db(path, records, database_type=database_type)
