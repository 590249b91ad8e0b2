"""Resolution and the decision, alone: what happens per request before the body arrives.

- Resolution (`JurisdictionResolver.resolve(scope)`): the embedded table
  (`iptocc`) and a GeoIP2 City database written here with `mmdb_writer`
  (a few thousand networks, records of MaxMind's City shape), each with the
  resolver's cache warm (one reader, again and again) and with no cache
  (`cache_size=0`, a new address each call out of 256).
- The decision (`Engine.decide`) over a generated set of 1,000 rules: warm
  (the page and reader seen before, as on a live site) and on the first sight of
  a page (every rule's paths matched).
"""

from __future__ import annotations

import itertools
import os
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from compliance.reader.jurisdiction import Jurisdiction
from compliance.reader.resolve import JurisdictionResolver
from compliance.rules.decide import Engine
from compliance.rules.load import load_rules

from .driver import http_scope, interleave, time_calls
from .inprocess import Checks
from .model import Row, Section, Target, fmt
from .page import COUNTRY_IPS

__all__ = ["run_resolution", "write_city_db", "write_many_rules"]

# fmt: off
_COUNTRIES = (
    "RU", "BY", "UA", "KZ", "DE", "FR", "GB", "US", "CA", "NL", "BE", "PL", "CZ", "SK", "HU", "RO", "BG", "GR",
    "IT", "ES", "PT", "IE", "DK", "SE", "NO", "FI", "EE", "LV", "LT", "AT", "CH", "TR", "IL", "IN", "CN", "JP",
    "KR", "BR", "MX", "AR", "ZA", "NG", "EG", "AU", "NZ",
)
# fmt: on
_SUBDIVISIONS = {"RU": ["MOW", "SPE", "KDA"], "UA": ["43", "14", "30"], "US": ["CA", "TX", "NY"], "DE": ["BE", "BY"]}


def write_city_db(path: Path, networks: int = 3000, seed: int = 6) -> list[str]:
    """A GeoIP2-City database of `networks` public /24 and /20 networks; returns addresses it places."""
    from mmdb_writer import MMDBWriter
    from netaddr import IPSet

    rng = random.Random(seed)
    writer = MMDBWriter(
        ip_version=6,
        database_type="GeoIP2-City",
        languages=["en"],
        description="compliance benchmark database",
        ipv4_compatible=True,
    )
    placed: list[str] = []
    fixed = {"95.173.136.0/24": ("RU", "MOW"), "194.25.0.0/24": ("DE", "BE"), "8.8.8.0/24": ("US", "CA")}
    entries: dict[str, tuple[str, str | None]] = dict(fixed)
    while len(entries) < networks:
        first = rng.choice([5, 31, 37, 46, 62, 77, 78, 79, 80, 81, 82, 83, 84, 85, 86, 87, 88, 89, 91, 92, 93, 94, 95])
        prefix = rng.choice([20, 24, 24, 24])
        third = rng.randrange(0, 256) & (0xF0 if prefix == 20 else 0xFF)
        network = f"{first}.{rng.randrange(1, 255)}.{third}.0/{prefix}"
        country = rng.choice(_COUNTRIES)
        parts = _SUBDIVISIONS.get(country)
        entries.setdefault(network, (country, rng.choice(parts) if parts else None))
    for network, (country, part) in entries.items():
        record: dict[str, Any] = {
            "continent": {"code": "EU", "geoname_id": 6255148, "names": {"en": "Europe"}},
            "country": {"iso_code": country, "geoname_id": 1000 + _COUNTRIES.index(country), "names": {"en": country}},
            "registered_country": {"iso_code": country, "geoname_id": 1000, "names": {"en": country}},
            "city": {"geoname_id": 524901, "names": {"en": "Somewhere"}},
            "location": {"latitude": 55.75, "longitude": 37.62, "accuracy_radius": 20, "time_zone": "Europe/Moscow"},
            "postal": {"code": "101000"},
        }
        if part:
            record["subdivisions"] = [{"iso_code": part, "geoname_id": 2000, "names": {"en": part}}]
        writer.insert_network(IPSet([network]), record)
        if network not in fixed and len(placed) < 256:
            base = network.split("/")[0].rsplit(".", 1)[0]
            placed.append(f"{base}.{rng.randrange(1, 255)}")
    writer.to_db_file(os.fspath(path))
    return placed


def write_many_rules(path: Path, count: int = 1000, seed: int = 6) -> Path:
    """A rule file of `count` rules over 40 sections, 25 notices, groups, dates, hosts and report-only rules."""
    rng = random.Random(seed)
    sections = [f"section{i}" for i in range(38)] + ["news", "world"]
    lines = ["groups:", "  near-abroad: [BY, KZ, UA-43, UA-14]", "notices:"]
    for n in range(25):
        lines += [
            f"  notice-{n:02d}:",
            f"    title: Benchmark notice {n}",
            "    text:",
            f'      en: "Notice number {n}: a legal text that the rules of some jurisdiction call for."',
            f'      de: "Hinweis Nummer {n}."',
        ]
    lines.append("rules:")
    for i in range(count):
        section = rng.choice(sections)
        kind = rng.random()
        if kind < 0.6:
            paths = [f"/{section}/**"]
        elif kind < 0.8:
            paths = [f"/{section}/*/amp", f"/{section}/*/print"]
        elif kind < 0.95:
            paths = [f"re:^/{section}/[0-9]{{4}}/[a-z0-9-]+$"]
        else:
            paths = ["/**"]
        who = rng.random()
        if who < 0.1:
            jurisdictions = ["@EU"]
        elif who < 0.15:
            jurisdictions = ["@near-abroad"]
        elif who < 0.18:
            jurisdictions = ["*"]
        else:
            jurisdictions = rng.sample(_COUNTRIES, rng.randint(1, 5))
        rule = [
            f"  - id: rule-{i:04d}",
            f"    notice: notice-{rng.randrange(25):02d}",
            f"    jurisdictions: [{', '.join(repr(j) if j.startswith(('@', '*')) else j for j in jurisdictions)}]",
            f"    paths: [{', '.join(repr(p) for p in paths)}]",
        ]
        if rng.random() < 0.3:
            rule.append('    except_paths: ["/static/**", "/healthz"]')
        if rng.random() < 0.05:
            rule.append(f'    hosts: ["edition{i % 3}.harbour-gazette.example"]')
        if rng.random() < 0.3:
            rule.append(f"    from: 20{rng.randint(20, 25)}-0{rng.randint(1, 9)}-1{rng.randint(0, 9)}")
        if rng.random() < 0.2:
            rule.append(f"    until: 20{rng.randint(40, 60)}-01-01")
        if rng.random() < 0.3:
            rule.append("    placement: [{marker: legal-notice}, body-end]")
        if rng.random() < 0.5:
            rule.append(f"    priority: {rng.randint(0, 20)}")
        if rng.random() < 0.1:
            rule.append("    mode: report-only")
        lines += rule
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def run_resolution(
    city_db: Path, city_ips: list[str], many_rules: Path, checks: Checks, *, rounds: int, batch: float
) -> Section:
    section = Section("resolution", "Resolution and decision alone, per request", ["time"])
    ru_scope = http_scope("/news/estuary-ferry", COUNTRY_IPS["RU"])
    embedded = JurisdictionResolver()
    embedded_cold = JurisdictionResolver(cache_size=0)
    geoip = JurisdictionResolver(geoip_db=city_db)
    geoip_cold = JurisdictionResolver(geoip_db=city_db, cache_size=0)
    scopes = [http_scope("/news/estuary-ferry", ip) for ip in city_ips]

    found = geoip.resolve(ru_scope)
    checks.expect(
        found.country == "RU" and found.subdivision == "RU-MOW" and found.source == "geoip",
        f"GeoIP2 City database: {COUNTRY_IPS['RU']} is {found}",
    )
    placed = [geoip_cold.resolve(s) for s in scopes]
    checks.expect(all(j.source == "geoip" for j in placed), f"GeoIP2 City database places all {len(scopes)} addresses")
    checks.expect(embedded.resolve(ru_scope).country == "RU", f"embedded table: {COUNTRY_IPS['RU']} is RU")

    def rotating(resolver: JurisdictionResolver) -> Callable[[int], float]:
        cycle = itertools.cycle(scopes)
        resolve = resolver.resolve

        def call() -> Any:
            return resolve(next(cycle))

        return lambda n: time_calls(call, n)

    def same(resolver: JurisdictionResolver) -> Callable[[int], float]:
        resolve = resolver.resolve
        return lambda n: time_calls(lambda: resolve(ru_scope), n)

    import geoip2.database
    import iptocc

    reader = geoip2.database.Reader(os.fspath(city_db))
    ips = itertools.cycle(city_ips)
    country_code = iptocc.country_code

    ruleset = load_rules(many_rules)
    checks.expect(len(ruleset.rules) == 1000, f"generated rule set: {len(ruleset.rules)} rules")
    engine = Engine(ruleset)
    reader_ru = Jurisdiction("RU", None, False, "embedded")
    now = time.time()
    decision = engine.decide(reader_ru, "", "/news/estuary-ferry", now)
    checks.facts["decision_fired"] = len(decision.fired)
    checks.expect(decision.covered, f"1,000 rules: /news/estuary-ferry for RU: {len(decision.fired)} notices fire")

    def decide_warm(n: int) -> float:
        return time_calls(lambda: engine.decide(reader_ru, "", "/news/estuary-ferry", now), n)

    paths = itertools.count()

    def decide_cold(n: int) -> float:
        fresh = Engine(ruleset)
        batch_paths = [f"/news/{next(paths)}/story" for _ in range(n)]
        it = iter(batch_paths)
        return time_calls(lambda: fresh.decide(reader_ru, "", next(it), now), n)

    behind = JurisdictionResolver(trusted_proxies=["10.0.0.0/8"])
    proxied = http_scope("/news/estuary-ferry", "10.0.3.7", headers=[(b"x-forwarded-for", COUNTRY_IPS["RU"].encode())])
    checks.expect(behind.resolve(proxied).country == "RU", "behind a trusted proxy: X-Forwarded-For is believed")
    resolve_behind = behind.resolve

    variants: dict[str, Callable[[int], float]] = {
        "resolution, embedded table, warm cache": same(embedded),
        "resolution behind a trusted proxy (X-Forwarded-For), warm cache": lambda n: time_calls(
            lambda: resolve_behind(proxied), n
        ),
        "resolution, embedded table, uncached": rotating(embedded_cold),
        "resolution, GeoIP2 City database, warm cache": same(geoip),
        "resolution, GeoIP2 City database, uncached": rotating(geoip_cold),
        "primitive: iptocc.country_code": lambda n: time_calls(lambda: country_code(next(ips)), n),
        "primitive: geoip2 Reader.city": lambda n: time_calls(lambda: reader.city(next(ips)), n),
        "decision over 1,000 rules, warm": decide_warm,
        "decision over 1,000 rules, first sight of a page": decide_cold,
    }
    timing = interleave(variants, rounds=rounds, batch_seconds=batch)
    targets = {
        "resolution, embedded table, warm cache": Target("<=", 1, "µs"),
        "resolution, GeoIP2 City database, warm cache": Target("<=", 1, "µs"),
        "decision over 1,000 rules, warm": Target("<=", 2, "µs"),
    }
    for name in variants:
        us = timing.median_us(name)
        section.add(Row(name, {"time": f"{fmt(us)} µs"}, value=us, target=targets.get(name), data={"us": us}))
    began = time.perf_counter()
    load_rules(many_rules)
    load_ms = (time.perf_counter() - began) * 1000
    section.add(
        Row("loading the 1,000-rule file (once per change)", {"time": f"{fmt(load_ms)} ms"}, data={"ms": load_ms})
    )
    section.notes.append(
        f"The City database: {city_db.stat().st_size // 1024} KiB, written with mmdb_writer; "
        "uncached lookups rotate over 256 addresses it places. Figures include the Python call."
    )
    reader.close()
    geoip.close()
    geoip_cold.close()
    return section
