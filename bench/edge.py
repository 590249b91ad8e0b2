"""Edge benchmark: leaks and cache hit ratio through real nginx and Varnish, and the class lookup's cost.

Run with `python -m bench.edge` (needs nginx with ngx_http_geoip2_module and Varnish).
Hit ratios: the middleware honouring the class, the bare app behind the same cache
key (the same variants per URL), the middleware without the class where the CDN
country header is the source (`Vary` on it), and the middleware placing readers
itself (the `private` fallback: no shared cache may store a covered page).
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
import timeit
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.driver import call, http_scope, interleave, time_app  # noqa: E402
from compliance import ComplianceMiddleware  # noqa: E402
from compliance.rules.classes import ClassTable  # noqa: E402
from tests.edge_workload import COUNTRY_HEADER, KINDS, app_for, engine_for, run, through, write_rules  # noqa: E402


def lookup_us(rules: Path) -> list[float]:
    classes = ClassTable(engine_for(rules)).at(time.time())
    value = classes.header_value(classes.members["RU"]).encode()
    get = classes.by_header.get
    return [t / 100_000 * 1e6 for t in timeit.repeat(lambda: get(value), number=100_000, repeat=7)]


def class_header_cost_us(rules: Path) -> tuple[float, float, float]:
    """In process, a covered page for a reader in Russia: what honouring the class header adds.

    Both variants are the same middleware (trusting 127.0.0.1 as the CDN); the baseline
    request carries the CDN country header only, the other the edge's class header too.
    Returns (added µs median, its spread, the baseline µs).
    """
    app = ComplianceMiddleware(
        app_for(("public",)),
        rules=rules,
        trusted_proxies=["127.0.0.1"],
        country_header=COUNTRY_HEADER,
        class_header="Compliance-Class",
        metrics=False,
        reload_interval=None,
    )
    classes = ClassTable(engine_for(rules)).at(time.time())
    value = classes.header_value(classes.members["RU"]).encode()
    country = http_scope("/news/7", "127.0.0.1", headers=[(COUNTRY_HEADER.lower().encode(), b"RU")])
    keyed = http_scope(
        "/news/7", "127.0.0.1", headers=[(COUNTRY_HEADER.lower().encode(), b"RU"), (b"compliance-class", value)]
    )
    assert b"compliance-class" in (call(app, keyed).header(b"vary") or b"").lower()
    timing = interleave(
        {"country header": lambda n: time_app(app, country, n), "class header": lambda n: time_app(app, keyed, n)},
        rounds=15,
        batch_seconds=0.2,
        baseline="country header",
    )
    return timing.added_us("class header"), timing.spread_us("class header"), timing.median_us("country header")


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        rules = write_rules(tmp / "rules")
        engine = engine_for(rules)
        times = lookup_us(rules)
        print(f"class lookup: median {statistics.median(times):.3f} µs (min {min(times):.3f}, max {max(times):.3f})")
        added, spread, base = class_header_cost_us(rules)
        print(f"class header, in process, covered page: +{added:.2f} µs ±{spread:.2f} over {base:.1f} µs", flush=True)
        for cache in ("nginx", "varnish"):
            for kind in KINDS:
                row = []
                for mode in ("class", "bare", "vary-country", "private"):
                    work = tmp / f"{cache}-{kind}-{mode}"
                    work.mkdir()
                    with through(cache, work, rules, (kind,), mode) as url:
                        result = run(url, engine, unplaced=mode == "private")
                    leaks = "-" if mode == "bare" else str(result.leaks)
                    row.append(f"{mode} hit {result.hit_ratio:.3f} leaks {leaks}")
                print(f"{cache:8} {kind:18} " + " | ".join(row), flush=True)


if __name__ == "__main__":
    main()
