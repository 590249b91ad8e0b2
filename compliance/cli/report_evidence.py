"""What the report is evidence of: which rules, which database, when, and what the cases showed.

* The rule set's digest: SHA-256 over the lines `<file's SHA-256>  <path>` (the
  output of `sha256sum`, paths relative to the rules folder, in sorted order),
  so an auditor can recompute it with standard tools:
  `cd rules && sha256sum FILES | LC_ALL=C sort -k2 | sha256sum`; each file's own
  digest is listed too.
* The git commit the rules folder is at, where it is in a git work tree, and
  whether its rule files differ from that commit.
* The GeoIP database's type and build date, where one is given.
* The moment the report was generated.
* With case files: each case's result against the rules, and which rules no case
  exercised.
* With audit logs: what readers were shown, counted per day, rule, jurisdiction
  and outcome (`compliance.cli.audit_summary`), and the files counted.
"""

from __future__ import annotations

import hashlib
import html
import os
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime

from compliance.cli.audit_summary import Summary
from compliance.cli.results import CaseResult, TestRun
from compliance.reader.databases import DEFAULT_GEOIP_MAX_AGE_DAYS
from compliance.rules.model import RuleSet

__all__ = ["Evidence", "evidence_html", "evidence_markdown", "gather"]


@dataclass(frozen=True, slots=True)
class Evidence:
    source: str
    generated: datetime
    digest: str
    #: (path relative to the rules folder, its SHA-256), in sorted order.
    files: tuple[tuple[str, str], ...]
    #: The commit the rules folder's work tree is at, or None outside git.
    commit: str | None = None
    #: Whether the rule files differ from that commit (uncommitted changes).
    dirty: bool = False
    #: (database type, build date as UTC) of the GeoIP database given, or None.
    geoip: tuple[str, str, datetime] | None = None
    tests: TestRun | None = None
    #: The audit trail's counts, and the files they were read from.
    audit: Summary | None = None
    audit_files: tuple[str, ...] = ()


def gather(
    ruleset: RuleSet,
    source: str,
    now: datetime,
    *,
    geoip_db: str | None = None,
    tests: TestRun | None = None,
    audit: Summary | None = None,
    audit_files: tuple[str, ...] = (),
) -> Evidence:
    """Everything but the tests is read here; a GeoIP database that cannot be read raises ValueError."""
    base = source if os.path.isdir(source) else os.path.dirname(source) or "."
    files = []
    for path in ruleset.files:
        with open(path, "rb") as handle:
            files.append((os.path.relpath(path, base).replace(os.sep, "/"), hashlib.sha256(handle.read()).hexdigest()))
    files.sort(key=lambda item: item[0].encode("utf-8"))
    digest = hashlib.sha256("".join(f"{sha}  {name}\n" for name, sha in files).encode("utf-8")).hexdigest()
    commit, dirty = _git(base, [path for path in ruleset.files])
    return Evidence(
        source=source,
        generated=now,
        digest=digest,
        files=tuple(files),
        commit=commit,
        dirty=dirty,
        geoip=_geoip(geoip_db) if geoip_db else None,
        tests=tests,
        audit=audit,
        audit_files=audit_files,
    )


def _git(folder: str, files: list[str]) -> tuple[str | None, bool]:
    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(["git", "-C", folder, *args], capture_output=True, text=True, timeout=30, check=False)
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    commit = git("rev-parse", "--verify", "HEAD")
    if not commit:
        return None, False
    paths = [os.path.relpath(f, folder) for f in files]
    changed = git("status", "--porcelain", "--", *paths) if paths else ""
    return commit, bool(changed)


def _geoip(path: str) -> tuple[str, str, datetime]:
    import maxminddb

    try:
        with maxminddb.open_database(path) as reader:
            meta = reader.metadata()
    except (OSError, ValueError, maxminddb.InvalidDatabaseError) as error:
        reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
        raise ValueError(f'cannot read the GeoIP database "{path}": {reason}') from None
    return path, str(meta.database_type), datetime.fromtimestamp(meta.build_epoch, UTC)


def _moment(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def _facts(evidence: Evidence) -> list[tuple[str, str]]:
    """(label, plain text) pairs; the renderers escape them."""
    facts = [
        ("Generated", _moment(evidence.generated)),
        ("Rules", f"{evidence.source} ({len(evidence.files)} file{'s' if len(evidence.files) != 1 else ''})"),
        ("Rule set SHA-256", evidence.digest),
    ]
    if evidence.commit:
        state = " (the rule files have uncommitted changes)" if evidence.dirty else " (the rule files match it)"
        facts.append(("Git commit", evidence.commit + state))
    else:
        facts.append(("Git commit", "none: the rules folder is not in a git work tree"))
    if evidence.geoip:
        path, kind, built = evidence.geoip
        days = int((evidence.generated - built).total_seconds() // 86400)
        old = (
            f"; {days} days old, more than {DEFAULT_GEOIP_MAX_AGE_DAYS:g}: update it"
            if days > DEFAULT_GEOIP_MAX_AGE_DAYS
            else ""
        )
        facts.append(("GeoIP database", f"{path}: {kind}, built {_moment(built)}{old}"))
    else:
        facts.append(("GeoIP database", "none given (readers placed by address use the embedded registry table)"))
    if evidence.tests:
        run = evidence.tests
        facts.append(("Cases", f"{run.passed} passed, {run.failed} failed, {run.skipped} skipped ({run.target})"))
        uncovered = run.uncovered
        facts.append(
            (
                "Coverage",
                f"every rule ({len(run.rules)}) is exercised by at least one case"
                if not uncovered
                else f"{len(run.rules) - len(uncovered)} of {len(run.rules)} rules exercised; no case exercises "
                + ", ".join(r.id for r in uncovered),
            )
        )
    return facts


def _audit_sentence(evidence: Evidence) -> str:
    summary = evidence.audit
    assert summary is not None
    span = f", from {summary.first} to {summary.last}" if summary.first else ""
    events = f"{summary.events} decision event{'s' if summary.events != 1 else ''}"
    return f"{events}{span}, counted in {', '.join(evidence.audit_files)}."


def _audit_rows(summary: Summary) -> list[tuple[str, str, str, str, str, str]]:
    return [
        (r.day, r.rule, r.notice, r.jurisdiction, f"{r.outcome} ({r.why})" if r.why else r.outcome, str(r.count))
        for r in summary.rows
    ]


_AUDIT_HEAD = ("Day (UTC)", "Rule", "Notice", "Jurisdiction", "Outcome", "Count")


def _verdict(result: CaseResult) -> tuple[str, str]:
    if result.failed:
        return "FAIL", "; ".join(f"{m.what}: expected {m.expected}, got {m.got}" for m in result.mismatches)
    if result.skipped is not None:
        return "SKIP", result.skipped
    return "PASS", ""


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def evidence_html(evidence: Evidence) -> str:
    rows = "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in _facts(evidence))
    out = [
        '<section class="evidence">',
        "<h2>What this report is evidence of</h2>",
        f'<dl class="facts">{rows}</dl>',
        "<details><summary>Each rule file's SHA-256</summary><table><thead><tr><th>File</th><th>SHA-256</th></tr>"
        "</thead><tbody>"
        + "".join(f"<tr><td><code>{_e(n)}</code></td><td><code>{_e(d)}</code></td></tr>" for n, d in evidence.files)
        + "</tbody></table></details>",
    ]
    if evidence.tests:
        out.append("<h3>Case results (against the rules)</h3>")
        out.append("<table><thead><tr><th>Result</th><th>Case</th><th>Written at</th><th>Why</th></tr></thead><tbody>")
        for result in evidence.tests.results:
            verdict, why = _verdict(result)
            out.append(
                f"<tr><td><strong>{verdict}</strong></td><td>{_e(result.case.name)}</td>"
                f"<td><code>{_e(result.case.location)}</code></td><td>{_e(why)}</td></tr>"
            )
        out.append("</tbody></table>")
    if evidence.audit is not None:
        out.append("<h3>What readers were shown (the audit trail)</h3>")
        out.append(f"<p>{_e(_audit_sentence(evidence))}</p>")
        head = "".join(f"<th>{h}</th>" for h in _AUDIT_HEAD)
        out.append(f'<table class="audit"><thead><tr>{head}</tr></thead><tbody>')
        for row in _audit_rows(evidence.audit):
            out.append("<tr>" + "".join(f"<td>{_e(cell)}</td>" for cell in row) + "</tr>")
        out.append("</tbody></table>")
    out.append("</section>")
    return "\n".join(out)


def _md(text: object) -> str:
    return html.escape(str(text), quote=False).replace("|", "\\|").replace("\n", " ")


def evidence_markdown(evidence: Evidence) -> list[str]:
    out = ["## What this report is evidence of", ""]
    out += [f"- {k}: {_md(v)}" for k, v in _facts(evidence)]
    out += ["", "| File | SHA-256 |", "|---|---|"]
    out += [f"| `{n}` | `{d}` |" for n, d in evidence.files]
    out.append("")
    if evidence.tests:
        out += ["### Case results (against the rules)", "", "| Result | Case | Written at | Why |", "|---|---|---|---|"]
        for result in evidence.tests.results:
            verdict, why = _verdict(result)
            out.append(f"| **{verdict}** | {_md(result.case.name)} | `{result.case.location}` | {_md(why)} |")
        out.append("")
    if evidence.audit is not None:
        out += ["### What readers were shown (the audit trail)", "", _md(_audit_sentence(evidence)), ""]
        out.append("| " + " | ".join(_AUDIT_HEAD) + " |")
        out.append("|---" * len(_AUDIT_HEAD) + "|")
        out += ["| " + " | ".join(_md(cell) for cell in row) + " |" for row in _audit_rows(evidence.audit)]
        out.append("")
    return out
