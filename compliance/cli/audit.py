"""`compliance audit verify FILES...` and `compliance audit summary FILES... [--from --until]`.

`verify` checks the hash chains of the audit trail (see `compliance.observe.chain`)
and names, as FILE:LINE, the first event that was removed, changed or
reordered; with `--public-key`, the signatures of the checkpoints too.
`summary` counts what readers were shown, per day, rule, jurisdiction and
outcome, as a table, CSV or JSON. Both read the files one line at a time.
"""

from __future__ import annotations

import argparse
import os
import sys

from compliance.cli import COMMANDS
from compliance.cli.audit_read import Reading, read_events, read_lines, rotation_order
from compliance.cli.audit_summary import Summary, summarize
from compliance.cli.audit_verify import verify
from compliance.cli.common import moment
from compliance.cli.results import ExitCode
from compliance.errors import ConfigError

__all__ = ["add_parser", "run_summary", "run_verify", "summary_table"]

_SHOWN = 20


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "audit",
        help=COMMANDS["audit"],
        description="Check the audit trail (verify) or count what readers were shown (summary).",
    )
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    check = actions.add_parser(
        "verify",
        help="check the hash chains: name the first event removed, changed or reordered",
        description="Read audit logs (bare JSON lines, or inside a JSON log formatter's output; a rotated set, "
        "gzip-ed or not) and check every process's hash chain. Exit 0 when nothing was removed, changed or "
        "reordered, 1 when something was, 2 when a file cannot be read.",
    )
    check.add_argument("files", nargs="+", metavar="FILE", help="audit log files (a rotated set is read oldest first)")
    check.add_argument("--public-key", metavar="PEM", help="the Ed25519 public key that signs the checkpoints")
    check.set_defaults(run=run_verify)
    count = actions.add_parser(
        "summary",
        help="count what readers were shown, per day, rule, jurisdiction and outcome",
        description="Count the audit events per day (UTC), rule, jurisdiction and outcome (injected, fallback, "
        "missed with the reason, blocked, report-only, not-applicable).",
    )
    count.add_argument("files", nargs="+", metavar="FILE", help="audit log files")
    count.add_argument("--from", dest="start", type=moment, metavar="WHEN", help="from this date or time (inclusive)")
    count.add_argument("--until", type=moment, metavar="WHEN", help="until this date or time (exclusive)")
    count.add_argument("--format", choices=("text", "csv", "json"), default="text", help="output format")
    count.add_argument("-o", "--output", metavar="FILE", help="write here instead of standard output")
    count.set_defaults(run=run_summary)


def _fail(message: str) -> int:
    sys.stderr.write(f"compliance audit: {message}\n")
    return int(ExitCode.UNUSABLE)


def _files(given: list[str]) -> list[str] | str:
    missing = [path for path in given if not os.path.isfile(path)]
    if missing:
        return f'there is no file "{missing[0]}"; check the path to the audit log.'
    return rotation_order(given)


def run_verify(args: argparse.Namespace) -> int:
    files = _files(args.files)
    if isinstance(files, str):
        return _fail(files)
    public_key: bytes | None = None
    if args.public_key:
        try:
            with open(args.public_key, "rb") as handle:
                public_key = handle.read()
        except OSError as error:
            return _fail(f'the public key "{args.public_key}" cannot be read: {error.strerror}.')
    reading = Reading()
    try:
        result = verify(read_events(files, reading), public_key)
    except ConfigError as error:
        return _fail(f"{error}.")
    for problem in reading.unreadable:
        sys.stderr.write(f"compliance audit: cannot read {problem}\n")
    lines = [f"{finding.where}: {finding.message}" for finding in result.findings[:_SHOWN]]
    if len(result.findings) > _SHOWN:
        lines.append(f"... and {len(result.findings) - _SHOWN} more.")
    chains = len(result.chains)
    said = (
        f"Read {result.events} audit events in {len(files)} file{'s' if len(files) != 1 else ''}: "
        f"{chains} chain{'s' if chains != 1 else ''}, {result.checkpoints} checkpoint"
        f"{'s' if result.checkpoints != 1 else ''}"
    )
    if public_key is not None:
        said += f" ({result.good_signatures} with a good signature)"
    lines.append(said + ".")
    for chain, state in sorted(result.chains.items()):
        if state.first > 1:
            lines.append(f"Chain {chain} begins at event {state.first}: the events before it are not in these files.")
    if result.dropped:
        lost = sum(count for count, _where in result.dropped)
        lines.append(
            f"{lost} event{'s were' if lost != 1 else ' was'} not written because the writer's queue was full, as "
            f"recorded in the chain at {', '.join(where for _count, where in result.dropped[:5])}"
            f"{' and more' if len(result.dropped) > 5 else ''}."
        )
    if result.unchained:
        lines.append(f"{result.unchained} events carry no chain (written before the trail was chained).")
    if result.ok:
        lines.append("No event was removed, changed or reordered.")
    else:
        count = len(result.findings)
        lines.append(f"{count} problem{'s' if count != 1 else ''}: the audit trail was tampered with or damaged.")
    print("\n".join(lines))
    if reading.unreadable:
        return int(ExitCode.UNUSABLE)
    return int(ExitCode.OK if result.ok else ExitCode.FAILED)


def summary_table(summary: Summary) -> str:
    header = ("day", "rule", "notice", "jurisdiction", "outcome", "count")
    rows = [
        (r.day, r.rule, r.notice, r.jurisdiction, f"{r.outcome} ({r.why})" if r.why else r.outcome, str(r.count))
        for r in summary.rows
    ]
    widths = [max(len(cell) for cell in column) for column in zip(header, *rows, strict=False)]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in [header, *rows]
    ]
    span = f" from {summary.first} to {summary.last}" if summary.first else ""
    lines.append("")
    lines.append(f"{summary.events} decision event{'s' if summary.events != 1 else ''}{span}.")
    return "\n".join(lines) + "\n"


def run_summary(args: argparse.Namespace) -> int:
    files = _files(args.files)
    if isinstance(files, str):
        return _fail(files)
    reading = Reading()
    start = args.start.timestamp() if args.start else None
    until = args.until.timestamp() if args.until else None
    summary = summarize((raw for _, _, raw in read_lines(files, reading)), start, until)
    for problem in reading.unreadable:
        sys.stderr.write(f"compliance audit: cannot read {problem}\n")
    text = (
        summary.csv() if args.format == "csv" else summary.json() if args.format == "json" else summary_table(summary)
    )
    if args.output and args.output != "-":
        with open(args.output, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
    else:
        sys.stdout.write(text)
    return int(ExitCode.UNUSABLE if reading.unreadable else ExitCode.OK)
