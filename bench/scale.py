"""At a news site's scale: loading and validating thousands of rules, first-sight decisions, reloads.

Each figure is the median of interleaved rounds in the same run; the spread is half
the interquartile range of those rounds.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import threading
import time
from pathlib import Path

from starlette.types import Message, Receive, Scope, Send

from compliance import ComplianceMiddleware
from compliance.cli.validate import validate
from compliance.reader.jurisdiction import Jurisdiction
from compliance.sources.reload import RuleSource

from .driver import http_scope
from .model import Row, Section, Target, fmt
from .resolution import write_many_rules

__all__ = ["run_scale"]

_RU = Jurisdiction("RU", None, False, "embedded")


def _spread(values: list[float]) -> float:
    if len(values) < 4:
        return (max(values) - min(values)) / 2
    q = statistics.quantiles(values, n=4)
    return (q[2] - q[0]) / 2


def _row(section: Section, name: str, values: list[float], unit: str, target: Target | None, note: str = "") -> None:
    median = statistics.median(values)
    section.add(
        Row(
            name,
            {"time": f"{fmt(median)} {unit} ± {fmt(_spread(values))}"},
            value=median,
            target=target,
            note=note,
            data={unit: median, "rounds": values},
        )
    )


def run_scale(folder: Path, *, rounds: int, quick: bool) -> Section:
    section = Section("scale", "At scale: thousands of rules, first sight of a URL, reloads", ["time"])
    files = {n: write_many_rules(folder / f"rules-{n}.yaml", n) for n in (1000, 10000)}
    now = time.time()
    startup: dict[int, list[float]] = {1000: [], 10000: []}
    first: dict[tuple[int, str], list[float]] = {}
    for _ in range(max(3, rounds // 2)):
        for n, path in files.items():
            began = time.perf_counter()
            source = RuleSource(path, interval=None)  # what the middleware's start does: load, compile, settle
            startup[n].append((time.perf_counter() - began) * 1000)
            engine = source.engine
            for kind, form in (("covered", "/news/{}/story"), ("no rule covers", "/static/{}/x.css")):
                paths = [form.format(f"{time.perf_counter_ns()}-{i}") for i in range(2000)]
                decide = engine.decide
                began = time.perf_counter()
                for p in paths:
                    decide(_RU, "", p, now)
                first.setdefault((n, kind), []).append((time.perf_counter() - began) / len(paths) * 1e6)
    _row(section, "start-up with 1,000 rules (load and compile, after imports)", startup[1000], "ms", Target("<=", 50))
    _row(section, "start-up with 10,000 rules", startup[10000], "ms", Target("<=", 500))
    limits = {1000: 5.0, 10000: 10.0}
    for (n, kind), values in first.items():
        _row(
            section,
            f"decision on first sight of a URL, {n:,} rules, {kind}",
            values,
            "µs",
            Target("<=", limits[n], "µs"),
        )
    validating = []
    for _ in range(1 if quick else 3):
        began = time.perf_counter()
        validate([str(files[10000])])
        validating.append(time.perf_counter() - began)
    _row(section, "compliance validate on 10,000 rules (in process)", validating, "s", Target("<=", 2, "s"))
    ratio, quiet, busy = _reload_p99(files[1000], seconds=1.0 if quick else 3.0)
    section.add(
        Row(
            "p99 of requests during a reload of 1,000 rules / the same window without one",
            {"time": f"{fmt(ratio)} × (p99 {fmt(busy)} µs against {fmt(quiet)} µs)"},
            value=ratio,
            target=Target("<=", 1.5),
            data={"ratio": ratio, "p99_reload_us": busy, "p99_quiet_us": quiet},
        )
    )
    section.notes.append(
        "Rule sets written by the benchmark's generator (40 sections, 25 notices, globs, re: patterns, hosts, "
        "dates); a first sight is a path the engine has not decided before, for a reader in RU."
    )
    return section


def _reload_p99(rules: Path, seconds: float) -> tuple[float, float, float]:
    """p99 of in-process requests while a thread reloads the rules again and again, against none."""
    source = ComplianceMiddleware(_app, rules=str(rules), metrics=False, reload_interval=None)
    text = rules.read_text(encoding="utf-8")
    scope = http_scope("/news/estuary-ferry", "203.0.113.9")

    async def one() -> None:
        async def receive() -> Message:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: Message) -> None:
            return None

        await source(dict(scope), receive, send)

    # New content for each reload, written before the windows and put in place as a deploy tool does
    # (a hard link renamed over the file): the serving process does not also write 200 KB each time.
    variants = [rules.with_name(f"{rules.name}.{k}") for k in range(16)]
    for k, variant in enumerate(variants):
        variant.write_text(text + f"# {k}\n", encoding="utf-8")
    incoming = rules.with_name(rules.name + ".incoming")

    def window(reloading: bool) -> list[float]:
        rules.unlink()  # a link to one of the variants after a reloading window: not written through
        rules.write_text(text, encoding="utf-8")
        stop = threading.Event()

        def reload() -> None:
            count = 0
            while not stop.is_set():
                count += 1  # new content each time: the same content is not loaded again
                os.link(variants[count % len(variants)], incoming)
                os.replace(incoming, rules)
                source.rules.reload_now()

        thread = threading.Thread(target=reload, daemon=True)
        if reloading:
            thread.start()
        times: list[float] = []
        loop = asyncio.new_event_loop()
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            began = time.perf_counter()
            loop.run_until_complete(one())
            times.append((time.perf_counter() - began) * 1e6)
        stop.set()
        if reloading:
            thread.join()
        loop.close()
        return times

    quiet, busy = [], []
    for _ in range(2):
        quiet += window(False)
        busy += window(True)
    p99_quiet = statistics.quantiles(quiet, n=100)[98]
    p99_busy = statistics.quantiles(busy, n=100)[98]
    return p99_busy / p99_quiet, p99_quiet, p99_busy


async def _app(scope: Scope, receive: Receive, send: Send) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/html")]})
    await send({"type": "http.response.body", "body": b"<html><body><p>x</p></body></html>"})
