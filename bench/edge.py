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

from compliance.rules.classes import ClassTable  # noqa: E402
from tests.edge_workload import KINDS, engine_for, run, through, write_rules  # noqa: E402


def lookup_us(rules: Path) -> list[float]:
    classes = ClassTable(engine_for(rules)).at(time.time())
    value = classes.header_value(classes.members["RU"]).encode()
    get = classes.by_header.get
    return [t / 100_000 * 1e6 for t in timeit.repeat(lambda: get(value), number=100_000, repeat=7)]


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        rules = write_rules(tmp / "rules")
        engine = engine_for(rules)
        times = lookup_us(rules)
        print(f"class lookup: median {statistics.median(times):.3f} µs (min {min(times):.3f}, max {max(times):.3f})")
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
