"""Profile one in-process scenario: `python -m bench.profile SCENARIO [SECONDS]`.

SCENARIO is one of `pass-through`, `covered`, `body-end`, `selector`, `css`,
`json`, `gzip`, `stream-body-end`, `stream-selector`. The scenario runs in a
loop for SECONDS (default 5) under pyinstrument where it is installed
(`pip install pyinstrument`), else under cProfile; the report goes to standard
output. For a sampling profile of the same loop from outside:
`py-spy record -o profile.svg -- python -m bench.profile body-end 10 --bare`.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from . import apps
from .driver import http_scope, loop, time_app
from .page import COUNTRY_IPS, api_body, iter_stream, news_page, stream_chunks, write_rules
from .streaming import TEN_MB

RU, DE = COUNTRY_IPS["RU"], COUNTRY_IPS["DE"]
SCENARIOS = {
    "pass-through": ("/about", RU, "page"),
    "covered": ("/news/estuary-ferry", DE, "page"),
    "body-end": ("/news/estuary-ferry", RU, "page"),
    "selector": ("/world/estuary-ferry", RU, "page"),
    "css": ("/styled/estuary-ferry", RU, "page"),
    "json": ("/api/region", RU, "json"),
    "gzip": ("/news/estuary-ferry", RU, "gzip"),
    "stream-body-end": ("/news/long-read", RU, "stream"),
    "stream-selector": ("/world/long-read", RU, "stream"),
}


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in SCENARIOS:
        print(__doc__, file=sys.stderr)
        return 2
    name = argv[0]
    seconds = float(argv[1]) if len(argv) > 1 and not argv[1].startswith("--") else 5.0
    bare_only = "--bare" in argv  # no profiler inside: for py-spy
    path, reader, kind = SCENARIOS[name]
    with tempfile.TemporaryDirectory() as tmp:
        rules = write_rules(Path(tmp))
        if kind == "page":
            app = apps.raw_app(news_page())
        elif kind == "json":
            app = apps.raw_app(api_body(), b"application/json")
        elif kind == "gzip":
            body, headers = apps.gzip_body(news_page())
            app = apps.raw_app(body, extra=headers)
        else:
            first, middle, last, repeats = stream_chunks(TEN_MB)
            app = apps.streaming_app(lambda: iter_stream(first, middle, last, repeats))
        wrapped = apps.ours(app, rules)
        scope = http_scope(path, reader)
        time_app(wrapped, scope, 20)  # warm up: caches, compiled patterns
        per_call = time_app(wrapped, scope, 20)
        n = max(1, int(seconds / max(per_call, 1e-7)))

        def run() -> None:
            time_app(wrapped, scope, n)

        if bare_only:
            run()
            return 0
        try:
            from pyinstrument import Profiler
        except ImportError:
            import cProfile
            import pstats

            profiler = cProfile.Profile()
            profiler.runcall(run)
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(40)
            return 0
        profile = Profiler(interval=0.0001, async_mode="disabled")
        began = time.perf_counter()
        profile.start()
        run()
        profile.stop()
        spent = time.perf_counter() - began
        print(f"{name}: {n} requests in {spent:.2f} s under the profiler ({spent / n * 1e6:.2f} µs each)")
        print(profile.output_text(unicode=True, color=False, show_all=False))
    loop().close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
