"""Over the wire at a news site's scale: a new URL on every request among 1,004 rules, and as deployed.

Two uvicorn shapes, as a site runs them: 1 worker loaded by 16 connections, and
2 workers loaded by 64. In each, one server serves the bare app under `/bare/...`
and the wrapped one elsewhere (`bench.serve`), and bare and wrapped are loaded
back to back in each round, the order alternating; a ratio is the median of the
per-round wrapped / bare ratios.

- New URLs: the rule set is the benchmark's 4 rules and 1,000 generated ones
  (`resolution.write_many_rules`); the same-URL workload asks for one article
  again and again, the all-new one for `/news/<run>-<count>`, a path no worker
  has seen. The target holds the all-new ratio to 0.95 of the same-URL ratio,
  both from the same rounds.
- As deployed: the benchmark's rules, `body-end` with the notice's CSS, metrics
  on, the audit events through `AuditFileHandler` to a file (set up in each
  worker, as docs/operations.md recommends).
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import httpx

from .inprocess import Checks
from .model import Row, Section, Target, fmt
from .page import COUNTRY_IPS, RULES_YAML
from .resolution import write_many_rules
from .serve import BARE_PREFIX
from .wire import Load, load, server

__all__ = ["SHAPES", "ratio_row", "run_wire_scale", "write_scale_rules"]

#: (uvicorn workers, connections)
SHAPES = ((1, 16), (2, 64))
RU = COUNTRY_IPS["RU"]
COLUMNS = ["bare req/s", "wrapped req/s", "ratio", "ratio IQR", "bare p99 ms", "wrapped p99 ms"]


def write_scale_rules(folder: Path) -> Path:
    """The benchmark's 4 rules and 1,000 generated ones in one file (1,004 rules)."""
    many = write_many_rules(folder / "generated-1000.yaml").read_text(encoding="utf-8")
    bench = RULES_YAML.split("notices:\n", 1)[1]
    bench_notices, bench_rules = bench.split("rules:\n", 1)
    many_head, many_rules = many.split("rules:\n", 1)
    text = many_head + bench_notices + "rules:\n" + bench_rules + many_rules
    path = folder / "rules-1004.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def _quartiles(values: list[float]) -> tuple[float, float, float]:
    middle = statistics.median(values)
    if len(values) < 2:
        return middle, middle, middle
    q1, _, q3 = statistics.quantiles(values, n=4)
    return q1, middle, q3


def ratio_row(name: str, bare: list[Load], wrapped: list[Load], target: Target | None, **extra: object) -> Row:
    """A row of wrapped / bare requests a second, the median of the per-round ratios with their IQR."""
    ratios = [w.rps / b.rps for w, b in zip(wrapped, bare, strict=True)]
    q1, ratio, q3 = _quartiles(ratios)
    return Row(
        name,
        {
            "bare req/s": fmt(statistics.median(x.rps for x in bare)),
            "wrapped req/s": fmt(statistics.median(x.rps for x in wrapped)),
            "ratio": fmt(ratio),
            "ratio IQR": f"{fmt(q1)}–{fmt(q3)}",
            "bare p99 ms": fmt(statistics.median(x.p99_ms for x in bare)),
            "wrapped p99 ms": fmt(statistics.median(x.p99_ms for x in wrapped)),
        },
        value=ratio,
        target=target,
        data={
            "bare_rps": [x.rps for x in bare],
            "wrapped_rps": [x.rps for x in wrapped],
            "bare_p99_ms": [x.p99_ms for x in bare],
            "wrapped_p99_ms": [x.p99_ms for x in wrapped],
            "ratio": ratio,
            "ratio_iqr": [q1, q3],
            **extra,
        },
    )


def _get(url: str) -> httpx.Response:
    return httpx.get(url, headers={"X-Forwarded-For": RU}, timeout=30)


def _has_notice(response: httpx.Response) -> bool:
    return response.status_code == 200 and b'class="legal-notice"' in response.content


def _new_urls(base: str, tool: str, checks: Checks, rounds: int, seconds: float, connections: int) -> list[Row]:
    token = f"{time.time_ns():x}"
    same = {"bare": f"{base}{BARE_PREFIX}/news/estuary-ferry", "wrapped": f"{base}/news/estuary-ferry"}
    new = {"bare": f"{base}{BARE_PREFIX}/news/{token}-", "wrapped": f"{base}/news/{token}-"}
    seen = {kind: _has_notice(_get(url + ("check" if url.endswith("-") else ""))) for kind, url in new.items()}
    checks.expect(
        seen == {"bare": False, "wrapped": True} and _has_notice(_get(same["wrapped"])),
        f"over uvicorn, 1,004 rules, {connections} connections: a new /news/ path gets the notice wrapped "
        f"({seen['wrapped']}) and not bare ({seen['bare']}); the same URL gets it wrapped",
    )
    for kind in ("bare", "wrapped"):  # warm up
        load(tool, same[kind], RU, 1, connections=connections)
    got: dict[str, dict[str, list[Load]]] = {w: {"bare": [], "wrapped": []} for w in ("same", "new")}
    for r in range(rounds):
        for workload, urls in (("same", same), ("new", new)):
            for kind in ("bare", "wrapped") if r % 2 == 0 else ("wrapped", "bare"):
                got[workload][kind].append(
                    load(tool, urls[kind], RU, seconds, connections=connections, new_paths=workload == "new")
                )
    same_row = ratio_row("same URL again and again", got["same"]["bare"], got["same"]["wrapped"], None)
    new_row = ratio_row("a new URL on every request", got["new"]["bare"], got["new"]["wrapped"], None)
    per_round = [n / s for n, s in zip(new_row.data["bare_rps"], same_row.data["bare_rps"], strict=True)]
    ratios = [
        (nw / nb) / (sw / sb)
        for nw, nb, sw, sb in zip(
            new_row.data["wrapped_rps"],
            new_row.data["bare_rps"],
            same_row.data["wrapped_rps"],
            same_row.data["bare_rps"],
            strict=True,
        )
    ]
    q1, value, q3 = _quartiles(ratios)
    versus = Row(
        "all-new ratio ÷ same-URL ratio",
        {"ratio": fmt(value), "ratio IQR": f"{fmt(q1)}–{fmt(q3)}"},
        value=value,
        target=Target(">=", 0.95),
        data={"ratio": value, "ratio_iqr": [q1, q3], "rounds": ratios, "bare_new_over_same": per_round},
    )
    return [same_row, new_row, versus]


def _deployed(base: str, audit: Path, tool: str, checks: Checks, rounds: int, seconds: float, connections: int) -> Row:
    urls = {"bare": f"{base}{BARE_PREFIX}/styled/estuary-ferry", "wrapped": f"{base}/styled/estuary-ferry"}
    response = _get(urls["wrapped"])
    head = response.content.split(b"</head>", 1)[0]
    time.sleep(0.2)  # the writer thread writes every 50 ms
    lines = audit.read_bytes().count(b"\n") if audit.exists() else 0
    checks.expect(
        _has_notice(response) and b"bench-notice-css" in head and lines >= 1 and not _has_notice(_get(urls["bare"])),
        f"over uvicorn as deployed, {connections} connections: notice {_has_notice(response)}, its CSS in the "
        f"head {b'bench-notice-css' in head}, audit file {lines} line(s)",
    )
    load(tool, urls["wrapped"], RU, 1, connections=connections)  # warm up
    got: dict[str, list[Load]] = {"bare": [], "wrapped": []}
    for r in range(rounds):
        for kind in ("bare", "wrapped") if r % 2 == 0 else ("wrapped", "bare"):
            got[kind].append(load(tool, urls[kind], RU, seconds, connections=connections))
    size = audit.stat().st_size if audit.exists() else 0
    return ratio_row(
        "as deployed: body-end with its CSS, audit through AuditFileHandler, metrics on",
        got["bare"],
        got["wrapped"],
        Target(">=", 0.75),
        audit_bytes=size,
    )


def run_wire_scale(folder: Path, rules: Path, checks: Checks, *, tool: str, rounds: int, seconds: float) -> Section:
    section = Section(
        "wire_scale",
        "Over the wire at scale: a new URL on every request among 1,004 rules, and as deployed",
        COLUMNS,
    )
    scale_rules = write_scale_rules(folder)
    for workers, connections in SHAPES:
        shape = f"{workers} worker{'s' if workers > 1 else ''} × {connections} connections"
        with server(scale_rules, workers=workers) as base:
            for row in _new_urls(base, tool, checks, rounds, seconds, connections):
                row.name = f"{shape}, 1,004 rules: {row.name}"
                section.add(row)
        with tempfile.TemporaryDirectory(prefix="compliance-bench-audit-") as logs:
            audit = Path(logs) / "audit.jsonl"
            with server(rules, workers=workers, deployed=str(audit)) as base:
                row = _deployed(base, audit, tool, checks, rounds, seconds, connections)
            row.name = f"{shape}, {row.name}"
            section.add(row)
    load_tool = "wrk, 1 thread" if tool == "wrk" else "an async httpx client (wrk is not installed)"
    section.notes.append(
        f"Load: {load_tool}, {seconds:g} s a run, {rounds} interleaved rounds per shape; medians. The all-new "
        "workload asks for `/news/<run>-<count>`, a path never asked before, on every request; the row "
        "'all-new ratio ÷ same-URL ratio' is the median of the per-round quotients of the two ratios. As "
        "deployed: each worker writes the audit chain of its own to one file through AuditFileHandler."
    )
    return section
