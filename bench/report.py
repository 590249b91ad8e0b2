"""Writing the results: results.md, results.json, chart.png, and the block in docs/performance.md."""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from .inprocess import Checks
from .model import Row, Section, fmt

__all__ = ["DOC_BEGIN", "DOC_END", "machine", "write_all"]

DOC_BEGIN = "<!-- bench:results:begin (written by `make bench`; edit outside this block) -->"
DOC_END = "<!-- bench:results:end -->"
_PACKAGES = (
    "starlette",
    "uvicorn",
    "httptools",
    "uvloop",
    "httpx",
    "geoip2",
    "maxminddb",
    "iptocc",
    "beautifulsoup4",
    "python-lolhtml",
)


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine() -> dict[str, Any]:
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    versions: dict[str, str | None] = {}
    for name in _PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    wrk = None
    if shutil.which("wrk"):
        out = subprocess.run(["wrk", "--version"], capture_output=True, text=True).stdout + ""
        wrk = out.split(" [", 1)[0].replace("wrk ", "").strip() or "installed"
    return {
        "run_at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": cpus,
        "cpu": _cpu_model(),
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "os": f"{platform.system()} {platform.release()}",
        "load_average_at_start": os.getloadavg() if hasattr(os, "getloadavg") else None,
        "packages": versions,
        "wrk": wrk,
    }


def _machine_md(info: dict[str, Any]) -> str:
    packages = ", ".join(f"{k} {v}" for k, v in info["packages"].items() if v)
    load = info.get("load_average_at_start")
    load_text = (
        ""
        if load is None
        else f"; load average at the start {load[0]:.2f} (a shared machine: other work runs beside this)"
    )
    return (
        f"- machine: `nproc` {info['nproc']}, CPU `{info['cpu']}`, {info['os']}{load_text}\n"
        f"- Python {info['python']} ({info['implementation']}); {packages}\n"
        f"- load tool: {'wrk ' + info['wrk'] if info['wrk'] else 'async httpx client (wrk not installed)'}"
    )


def _summary(sections: list[Section]) -> tuple[list[str], list[str]]:
    met: list[str] = []
    missed: list[str] = []
    for section in sections:
        for row in section.rows:
            if row.met is None or row.target is None:
                continue
            label = (
                f"{_SECTION_NAMES.get(section.key, section.key)}, {row.name}: {_headline(row)} (target {row.target})"
            )
            (met if row.met else missed).append(label)
    return met, missed


_SECTION_NAMES = {
    "inprocess": "in process",
    "peers": "against peers",
    "wire": "over the wire (ratio)",
    "wire_scale": "over the wire at scale (ratio)",
    "nginx": "against nginx sub_filter (ratio)",
    "memory_scale": "memory over distinct URLs",
    "streaming": "streaming",
    "memory": "streaming memory",
    "attack_memory": "memory under attack",
    "resolution": "resolution",
}


def _headline(row: Row) -> str:
    assert row.value is not None and row.target is not None
    return fmt(row.value) + (f" {row.target.unit}" if row.target.unit else "")


def _body(sections: list[Section], checks: Checks, info: dict[str, Any], elapsed: float, chart: str) -> str:
    met, missed = _summary(sections)
    lines = [
        f"Run {info.get('run_at') or datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}, {elapsed:.0f} s in all.",
        "",
        _machine_md(info),
        "",
        f"**Targets: {len(met)} met, {len(missed)} missed.**",
    ]
    if missed:
        lines += ["", "Missed:"] + [f"- {m}" for m in missed]
    place = checks.facts.get("selector_place")
    if place is not None or "selector_after_h1" in checks.facts:
        landed = checks.facts.get("selector_after_h1")
        lines += [
            "",
            '`{after: "article h1"}`: '
            + (
                "the notice lands right after the article's `</h1>` (audit place "
                f"`{place}`, outcome `{checks.facts.get('selector_outcome')}`)."
                if landed
                else "the notice does **not** land after `</h1>`: the audit event says outcome "
                f"`{checks.facts.get('selector_outcome')}`, place `{place}` (the rewriter does not place "
                "selectors yet and falls back to `body-end`), so the selector rows time a body-end placement."
            ),
        ]
    lines += ["", f"![chart]({chart})", ""]
    for section in sections:
        lines += [f"### {section.title}", "", section.markdown(), ""]
        lines += [f"{note}" for note in section.notes]
        if section.notes:
            lines.append("")
    lines += ["### Checks made on the responses that were timed", ""]
    lines += [f"- ok: {line}" for line in checks.lines]
    lines += [f"- **not as expected**: {line}" for line in checks.failures]
    return "\n".join(lines) + "\n"


def _chart(sections: list[Section], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    by_key = {s.key: s for s in sections}
    panels = [k for k in ("inprocess", "wire", "streaming") if k in by_key]
    fig, axes = plt.subplots(1, len(panels), figsize=(6.2 * len(panels), 5.2), squeeze=False)
    for ax, key in zip(axes[0], panels, strict=True):
        section = by_key[key]
        if key == "inprocess":
            wanted = [
                r
                for r in section.rows
                if r.cells.get("added µs")
                and not r.name.startswith(("gzip", "JSON", "bare"))
                and "audit" not in r.name
                and "Prometheus" not in r.name
            ]
            names = [_label(r) for r in wanted]
            values = [max(r.data["added_us"], 0.01) for r in wanted]
            colors = [_color(r.name) for r in wanted]
            ax.barh(names, values, color=colors)
            for i, r in enumerate(wanted):
                if r.target is not None:
                    ax.plot([r.target.limit] * 2, [i - 0.4, i + 0.4], color="black", linewidth=2)
            ax.set_xscale("log")
            ax.invert_yaxis()
            ax.set_xlabel("added µs per response, 100 KB page (log); black bar: target")
            ax.set_title("In process")
        elif key == "wire":
            names = [_label(r) for r in section.rows]
            values = [r.data["ratio"] for r in section.rows]
            spread = [
                [v - r.data["ratio_iqr"][0] for v, r in zip(values, section.rows, strict=True)],
                [r.data["ratio_iqr"][1] - v for v, r in zip(values, section.rows, strict=True)],
            ]
            colors = ["#a0aec0" if r.name.startswith("control") else "#2b6cb0" for r in section.rows]
            ax.barh(names, values, color=colors, xerr=spread, ecolor="#444", capsize=3)
            for i, r in enumerate(section.rows):
                if r.target is not None:
                    ax.plot([r.target.limit] * 2, [i - 0.4, i + 0.4], color="black", linewidth=2)
            ax.set_xlim(0, 1.4)
            ax.invert_yaxis()
            ax.set_xlabel("requests/s wrapped ÷ bare (uvicorn), whiskers: IQR; black bar: target")
            ax.set_title("Over the wire")
        else:
            rows = [r for r in section.rows if not r.name.startswith("bare")]
            names = [_label(r) for r in rows]
            values = [r.data["mb_s"] for r in rows]
            ax.barh(names, values, color="#38a169")
            for i, r in enumerate(rows):
                if r.target is not None:
                    ax.plot([r.target.limit] * 2, [i - 0.4, i + 0.4], color="black", linewidth=2)
            ax.set_xscale("log")
            ax.invert_yaxis()
            ax.set_xlabel("MB/s, 10 MB page in 64 KB chunks (log); black bar: target")
            ax.set_title("Streaming")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


_SHORT = {
    "pass-through (path no rule covers)": "pass-through",
    "covered path, reader elsewhere (no notice)": "covered, no notice due",
    "body-end notice": "body-end",
    '{after: "article h1"} notice': '{after: "article h1"}',
    "body-end notice with its CSS before </head>": "body-end + <style> in head",
    "naive peer, body-end (BaseHTTPMiddleware + BeautifulSoup)": "naive peer, body-end",
    "control: bare against bare (the noise of this measurement)": "control: bare vs bare",
}


def _label(row: Row) -> str:
    return _SHORT.get(row.name, row.name) + (" (fell back)" if row.invalid else "")


def _color(name: str) -> str:
    if name.startswith("naive"):
        return "#c53030"
    if name.startswith("lol-html"):
        return "#d69e2e"
    if name.startswith("limit"):
        return "#718096"
    return "#2b6cb0"


def write_all(
    sections: list[Section],
    checks: Checks,
    info: dict[str, Any],
    elapsed: float,
    out_dir: Path,
    doc: Path | None,
) -> str:
    out_dir.mkdir(parents=True, exist_ok=True)
    _chart(sections, out_dir / "chart.png")
    results_md = "# Benchmark results\n\n" + _body(sections, checks, info, elapsed, "chart.png")
    results_md += "\nHow to read and reproduce these: [docs/performance.md](../../docs/performance.md).\n"
    (out_dir / "results.md").write_text(results_md, encoding="utf-8")
    met, missed = _summary(sections)
    payload = {
        "machine": info,
        "elapsed_s": elapsed,
        "targets": {"met": met, "missed": missed},
        "facts": checks.facts,
        "checks": {"ok": checks.lines, "failed": checks.failures},
        "sections": {s.key: s.to_json() for s in sections},
    }
    (out_dir / "results.json").write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    if doc is not None:
        rel = os.path.relpath(out_dir / "chart.png", doc.parent)
        block = f"{DOC_BEGIN}\n{_body(sections, checks, info, elapsed, rel)}{DOC_END}"
        text = doc.read_text(encoding="utf-8") if doc.exists() else "# Performance\n\n"
        if DOC_BEGIN in text and DOC_END in text:
            head, rest = text.split(DOC_BEGIN, 1)
            tail = rest.split(DOC_END, 1)[1]
            text = head + block + tail
        else:
            text = text.rstrip("\n") + "\n\n" + block + "\n"
        doc.write_text(text, encoding="utf-8")
    return results_md
