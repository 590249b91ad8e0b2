"""`compliance audit summary` throughput: MB of uncompressed audit lines counted per second on one core.

    python -m bench.audit_summary [MEGABYTES] [ROUNDS]

Writes MEGABYTES (default 64) of audit events as the middleware writes them
(chained, several rules and jurisdictions, a few days), then times the summary
over the file ROUNDS times (default 5) and prints the median and the spread.
The target is at least 50 MB/s.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time

from compliance.cli.audit_read import Reading, read_lines
from compliance.cli.audit_summary import summarize
from compliance.observe.chain import event_hash

JURISDICTIONS = [("RU", None), ("UA", "UA-43"), ("US", None), (None, None), ("BY", None)]
OUTCOMES = [("injected", "marker: legal-notice"), ("fallback", "body-end"), ("missed", None), ("report-only", None)]


def write_log(path: str, megabytes: int) -> int:
    size = 0
    prev = ""
    seq = 0
    moment = 1767225600.0
    with open(path, "w", encoding="utf-8") as out:
        while size < megabytes * 1_000_000:
            seq += 1
            country, subdivision = JURISDICTIONS[seq % len(JURISDICTIONS)]
            outcome, place = OUTCOMES[seq % len(OUTCOMES)]
            entry: dict[str, object] = {
                "rule": f"rule-{seq % 7}",
                "notice": f"notice-{seq % 5}",
                "mode": "enforce",
                "language": "en",
                "outcome": outcome,
            }
            if place:
                entry["place"] = place
            if outcome == "missed":
                entry["why"] = "compressed body (br)"
            record = {
                "event": "decision",
                "time": round(moment + seq * 0.37, 3),
                "request_id": f"{seq:032x}",
                "method": "GET",
                "path": f"/news/2026/01/story-{seq % 1000}",
                "jurisdiction": {"country": country, "subdivision": subdivision, "anonymous": False, "source": "geoip"},
                "network": "95.173.136.0/24",
                "rules": [entry],
                "chain": "3f9c2a7be1d04c55",
                "seq": seq,
                "prev": prev,
            }
            prev = event_hash(record)
            line = json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n"
            out.write(line)
            size += len(line.encode())
    return size


def main() -> None:
    megabytes = int(sys.argv[1]) if len(sys.argv) > 1 else 64
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "audit.jsonl")
        size = write_log(path, megabytes)
        speeds = []
        for _ in range(rounds):
            started = time.perf_counter()
            summary = summarize(raw for _, _, raw in read_lines([path], Reading()))
            speeds.append(size / 1e6 / (time.perf_counter() - started))
    print(
        f"audit summary: {size / 1e6:.0f} MB, {summary.events} events, {len(summary.rows)} rows: "
        f"median {statistics.median(speeds):.0f} MB/s (min {min(speeds):.0f}, max {max(speeds):.0f}, {rounds} rounds)"
    )


if __name__ == "__main__":
    main()
