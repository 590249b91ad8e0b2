"""The benchmark's correctness section: the awkward-page corpus (bench/corpus.py), counted.

Not timed: each row is a count over every page of the corpus and every placement tried, held
to a target of 0.
"""

from __future__ import annotations

from .corpus import CORPUS, PLACEMENTS, run_corpus
from .inprocess import Checks
from .model import Row, Section, Target

__all__ = ["run_correctness"]

_ROWS = (
    ("inside", "a notice inside a script, style, title, textarea, comment or attribute"),
    ("changed", "other DOM changed by a placement"),
    ("unrendered", "a notice audited injected that a spec parser does not render"),
    ("overmissed", "a notice audited missed (the page's end) that a spec parser would render there"),
    ("misplaced", "a notice rendered elsewhere than the audit says"),
)


def run_correctness(checks: Checks) -> Section:
    result = run_corpus()
    section = Section(
        "correctness",
        f"Correctness on the awkward-page corpus ({len(CORPUS)} pages x {len(PLACEMENTS)} placements,"
        " read back by html5lib)",
        ["count", "runs"],
    )
    for what, name in _ROWS:
        count = result.count(what)
        pages = sorted({f"{f.page} / {f.placement}" for f in result.findings if f.what == what})
        section.add(
            Row(
                name,
                {"count": str(count), "runs": str(result.runs)},
                value=count,
                target=Target("<=", 0),
                note="; ".join(pages),
                data={"findings": pages},
            )
        )
    checks.expect(not result.findings, "corpus: no findings")
    return section
