"""Run the benchmark: `python -m bench.run [--quick] [--no-wire] [--no-docs]`.

Writes bench/results/results.md, results.json and chart.png, updates the results
block of docs/performance.md, and prints the tables. `--quick` is a smoke run
(fewer rounds, shorter loads, a 256 MB stream instead of 1 GB): its figures are
rougher, so it writes them to a temporary folder and leaves bench/results and
the docs alone.
"""

from __future__ import annotations

import argparse
import gc
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

from .attacks import run_memory, run_patterns
from .correctness import run_correctness
from .inprocess import Checks, run_inprocess
from .memory_scale import run_memory_scale
from .model import Section
from .nginx_peer import nginx_available, run_nginx_peer
from .page import api_body, news_page, write_rules
from .report import machine, write_all
from .resolution import run_resolution, write_city_db, write_many_rules
from .scale import run_scale
from .streaming import ONE_GB, run_streaming
from .wire import run_wire
from .wire_scale import run_wire_scale, write_scale_rules

ROOT = Path(__file__).resolve().parent.parent


def _step(name: str, began: float) -> None:
    print(f"[{time.perf_counter() - began:6.1f} s] {name}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run: fewer rounds, shorter loads")
    parser.add_argument("--no-wire", action="store_true", help="skip the over-the-wire benchmark")
    parser.add_argument("--no-docs", action="store_true", help="do not update docs/performance.md")
    parser.add_argument(
        "--out", type=Path, default=None, help="where to write the results (default bench/results; --quick: a temp dir)"
    )
    parser.add_argument(
        "--redraw",
        action="store_true",
        help="measure nothing: rewrite results.md, the chart and the docs from results.json",
    )
    args = parser.parse_args(argv)
    if args.out is None:
        quick = args.quick and not args.redraw
        args.out = Path(tempfile.mkdtemp(prefix="compliance-bench-quick-")) if quick else ROOT / "bench" / "results"
    if args.redraw:
        return _redraw(args.out, None if args.no_docs else ROOT / "docs" / "performance.md")

    quick = args.quick
    rounds = 5 if quick else 11
    batch = 0.01 if quick else 0.04
    began = time.perf_counter()
    info = machine()
    checks = Checks()
    sections: list[Section] = []
    with tempfile.TemporaryDirectory(prefix="compliance-bench-") as tmp:
        folder = Path(tmp)
        rules = write_rules(folder)
        city_ips = write_city_db(folder / "GeoIP2-City-bench.mmdb")
        many = write_many_rules(folder / "many-rules.yaml")
        page, api = news_page(), api_body()
        gc.collect()
        gc.freeze()  # what setup made is not scanned again by each collection

        _step("correctness: the awkward-page corpus", began)
        sections.append(run_correctness(checks))
        _step("in process: 100 KB page, JSON, gzip, peers, limit", began)
        sections += run_inprocess(page, api, rules, checks, rounds=rounds, batch=batch, slow_rounds=3 if quick else 7)
        _step("resolution and decision", began)
        resolution = run_resolution(
            folder / "GeoIP2-City-bench.mmdb", city_ips, many, checks, rounds=rounds, batch=batch
        )
        _step("at scale: 1,000 and 10,000 rules, first sight, reloads", began)
        sections.append(run_scale(folder, rounds=rounds, quick=quick))
        _step("streaming: 10 MB throughput, peak memory 10 MB vs 1 GB", began)
        sections += run_streaming(rules, checks, rounds=3 if quick else 7, big=ONE_GB // 4 if quick else ONE_GB)
        sections.append(resolution)
        _step("attacks: adversarial path patterns", began)
        sections.append(run_patterns(rounds=3 if quick else 7))
        _step("attacks: memory under unique 64 KB paths and headers", began)
        sections.append(run_memory(ROOT / "rules", requests=5_000 if quick else 100_000))
        requests = 100_000 if quick else 1_000_000
        _step(f"memory: {requests:,} distinct URLs from 200 jurisdictions, 1,004 rules", began)
        sections.append(run_memory_scale(write_scale_rules(folder), requests=requests, quick=quick))
        if not args.no_wire:
            _step("over the wire: uvicorn under load", began)
            wire = [run_wire(rules, checks, rounds=2 if quick else 12, seconds=1)]
            tool = "wrk" if shutil.which("wrk") else "httpx"
            _step("over the wire at scale: new URLs among 1,004 rules, as deployed; 1 and 2 workers", began)
            wire.append(run_wire_scale(folder, rules, checks, tool=tool, rounds=2 if quick else 6, seconds=1))
            if nginx_available():
                _step("against nginx sub_filter, a real nginx in front of uvicorn", began)
                wire.append(run_nginx_peer(rules, checks, tool=tool, rounds=2 if quick else 8, seconds=1))
            else:
                print("bench: nginx is not installed; the sub_filter row is left out", file=sys.stderr)
            sections[2:2] = wire
    if not checks.facts.get("selector_after_h1", True):
        for section in sections:
            for row in section.rows:
                ours_selector = 'after: "article h1"' in row.name
                if ours_selector or (section.key == "peers" and 'after "article h1"' in row.name):
                    row.invalid = "the notice fell back to body-end"
    elapsed = time.perf_counter() - began
    _step("writing results", began)
    doc = None if (quick or args.no_docs) else ROOT / "docs" / "performance.md"
    text = write_all(sections, checks, info, elapsed, args.out, doc)
    print(text)
    print(f"wrote {args.out / 'results.md'}, results.json, chart.png" + (f" and {doc}" if doc else ""))
    return 0


def _redraw(out: Path, doc: Path | None) -> int:
    saved = json.loads((out / "results.json").read_text(encoding="utf-8"))
    checks = Checks()
    checks.lines, checks.failures = saved["checks"]["ok"], saved["checks"]["failed"]
    checks.facts = saved["facts"]
    sections = [Section.from_json(key, data) for key, data in saved["sections"].items()]
    print(write_all(sections, checks, saved["machine"], saved["elapsed_s"], out, doc))
    return 0


if __name__ == "__main__":
    sys.exit(main())
