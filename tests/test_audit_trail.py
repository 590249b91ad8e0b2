"""The audit trail as evidence: hash chains, signed checkpoints, `compliance audit verify` and `summary`."""

from __future__ import annotations

import gzip
import json
import logging
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from compliance import ComplianceMiddleware
from compliance.observe.audit import audit_line
from compliance.observe.chain import CHAIN, canonical, encode_event
from tests.conftest import ROOT, fetch, rule_file

RULES = """\
rules:
  - id: ru-warning
    notice: warning
    jurisdictions: [RU]
    except_paths: ["/static/**"]
"""
RU, US = "95.173.136.70", "8.8.8.8"


async def page(scope: dict[str, object], receive: object, send: object) -> None:
    assert callable(send)
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/html")]})
    await send({"type": "http.response.body", "body": b"<html><body><p>Story.</p></body></html>"})


@pytest.fixture
def audit_file(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "audit.jsonl"
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger = logging.getLogger("compliance.audit")
    level, propagate = logger.level, logger.propagate
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    try:
        yield path
    finally:
        logger.removeHandler(handler)
        handler.close()
        logger.setLevel(level)
        logger.propagate = propagate
        CHAIN.configure(None)


def serve(tmp_path: Path, count: int, **options: object) -> None:
    app = ComplianceMiddleware(page, rules=rule_file(tmp_path, RULES), reload_interval=None, **options)  # type: ignore[arg-type]
    for n in range(count):
        fetch(app, f"/news/{n}", client=(RU if n % 3 else US, 40000))


def compliance(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "compliance", *args], cwd=cwd, capture_output=True, text=True, timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip


def test_an_untouched_trail_verifies(tmp_path: Path, audit_file: Path) -> None:
    serve(tmp_path, 6)
    lines = audit_file.read_text().splitlines()
    events = [json.loads(line) for line in lines]
    assert [e["seq"] for e in events] == list(range(events[0]["seq"], events[0]["seq"] + 4))
    assert all(e["prev"] for e in events[1:])
    result = compliance("audit", "verify", str(audit_file), cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.endswith("No event was removed, changed or reordered.\n")


@pytest.mark.parametrize(
    ("tamper", "said"),
    [
        (
            lambda lines: lines[:2] + lines[3:],
            "event {s2} of chain {c} were removed: they belong between {f}:2 and {f}:3.",
        ),
        (
            lambda lines: [lines[0], lines[1].replace('"RU"', '"US"'), *lines[2:]],
            "{f}:2: event {s1} of chain {c} was changed after it was written: the next event ({f}:3) holds "
            "another hash of it.",
        ),
        (
            lambda lines: [lines[0], lines[2], lines[1], lines[3]],
            "{f}:3: event {s1} of chain {c} is out of order: it belongs before the event at {f}:2; the events were "
            "reordered.",
        ),
    ],
    ids=["removed", "changed", "reordered"],
)
def test_verify_names_the_first_event_removed_changed_or_reordered(
    tmp_path: Path, audit_file: Path, tamper: object, said: str
) -> None:
    serve(tmp_path, 6)
    lines = audit_file.read_text().splitlines()
    first = json.loads(lines[0])
    assert callable(tamper)
    audit_file.write_text("\n".join(tamper(lines)) + "\n")
    result = compliance("audit", "verify", "audit.jsonl", cwd=audit_file.parent)
    expected = said.format(f="audit.jsonl", c=first["chain"], s1=first["seq"] + 1, s2=first["seq"] + 2)
    if not expected.startswith("audit.jsonl:"):
        expected = "audit.jsonl:3: " + expected
    assert result.stdout.splitlines()[0] == expected
    assert result.stdout.splitlines()[-1] == "1 problem: the audit trail was tampered with or damaged."
    assert result.returncode == 1


def test_a_rotated_gzipped_set_inside_a_json_log_formatter_verifies(tmp_path: Path, audit_file: Path) -> None:
    serve(tmp_path, 12)
    lines = audit_file.read_text().splitlines()
    wrapped = [json.dumps({"level": "INFO", "logger": "compliance.audit", "message": line}) for line in lines]
    (tmp_path / "audit.log.2.gz").write_bytes(gzip.compress(("\n".join(wrapped[:3]) + "\n").encode()))
    (tmp_path / "audit.log.1").write_text("\n".join(wrapped[3:5]) + "\nsome other log line\n")
    (tmp_path / "audit.log").write_text("\n".join(wrapped[5:]) + "\n")
    result = compliance("audit", "verify", "audit.log", "audit.log.1", "audit.log.2.gz", cwd=tmp_path)
    assert result.returncode == 0, result.stdout
    assert result.stdout.startswith(f"Read {len(lines)} audit events in 3 files: 1 chain, 0 checkpoints.")
    (tmp_path / "audit.log.1").write_text(wrapped[3] + "\n")
    result = compliance("audit", "verify", "audit.log", "audit.log.1", "audit.log.2.gz", cwd=tmp_path)
    assert result.stdout.splitlines()[0].startswith("audit.log:1: event ")
    assert "were removed: they belong between audit.log.1:1 and audit.log:1." in result.stdout.splitlines()[0]


def test_workers_interleaving_in_one_file_each_keep_their_chain(tmp_path: Path, audit_file: Path) -> None:
    serve(tmp_path, 6)
    other = tmp_path / "other.jsonl"
    script = textwrap.dedent(
        f"""
        import logging
        from tests.test_audit_trail import serve
        from pathlib import Path
        handler = logging.FileHandler({str(other)!r})
        logger = logging.getLogger("compliance.audit")
        logger.addHandler(handler); logger.setLevel(logging.INFO); logger.propagate = False
        serve(Path({str(tmp_path / "w2")!r}), 6)
        """
    )
    (tmp_path / "w2").mkdir()
    subprocess.run([sys.executable, "-c", script], cwd=ROOT, check=True, timeout=120)
    mine, theirs = audit_file.read_text().splitlines(), other.read_text().splitlines()
    mixed = [line for pair in zip(mine, theirs, strict=True) for line in pair]
    (tmp_path / "mixed.jsonl").write_text("\n".join(mixed) + "\n")
    result = compliance("audit", "verify", "mixed.jsonl", cwd=tmp_path)
    assert result.returncode == 0, result.stdout
    assert ": 2 chains, " in result.stdout


def test_signed_checkpoints_verify_with_the_public_key_and_fail_with_another(tmp_path: Path, audit_file: Path) -> None:
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    public = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    (tmp_path / "audit.pub").write_bytes(public)
    stranger = Ed25519PrivateKey.generate().public_key()
    (tmp_path / "other.pub").write_bytes(
        stranger.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    serve(tmp_path, 9, audit_signing_key=pem, audit_checkpoint_every=2)
    events = [json.loads(line) for line in audit_file.read_text().splitlines()]
    checkpoints = [e for e in events if e["event"] == "checkpoint"]
    assert checkpoints and all(e["signature"] for e in checkpoints)
    good = compliance("audit", "verify", "audit.jsonl", "--public-key", "audit.pub", cwd=tmp_path)
    assert good.returncode == 0, good.stdout
    assert f"({len(checkpoints)} with a good signature)" in good.stdout
    bad = compliance("audit", "verify", "audit.jsonl", "--public-key", "other.pub", cwd=tmp_path)
    assert bad.returncode == 1
    assert "does not carry a valid signature of the given public key" in bad.stdout.splitlines()[0]


def test_summary_counts_per_day_rule_jurisdiction_and_outcome(tmp_path: Path, audit_file: Path) -> None:
    serve(tmp_path, 6)
    day = json.loads(audit_file.read_text().splitlines()[0])["time"]
    result = compliance("audit", "summary", "audit.jsonl", "--format", "csv", cwd=tmp_path)
    from datetime import UTC, datetime

    today = datetime.fromtimestamp(day, UTC).date().isoformat()
    assert result.stdout == (
        f"day,rule,notice,jurisdiction,outcome,why,count\n{today},ru-warning,warning,RU,injected,,4\n"
    )
    table = compliance("audit", "summary", "audit.jsonl", cwd=tmp_path)
    assert table.stdout.splitlines()[:2] == [
        "day         rule        notice   jurisdiction  outcome   count",
        f"{today}  ru-warning  warning  RU            injected  4",
    ]
    later = compliance("audit", "summary", "audit.jsonl", "--from", "2999-01-01", "--format", "json", cwd=tmp_path)
    assert json.loads(later.stdout) == {"events": 0, "from": None, "until": None, "rows": []}


def test_summary_reads_a_log_formatters_output_as_it_reads_bare_lines(tmp_path: Path, audit_file: Path) -> None:
    serve(tmp_path, 9)
    lines = audit_file.read_text().splitlines()
    wrapped = [json.dumps({"level": "INFO", "message": line}) for line in lines]
    (tmp_path / "wrapped.log").write_text("\n".join(wrapped) + "\n")
    bare = compliance("audit", "summary", "audit.jsonl", "--format", "json", cwd=tmp_path)
    inside = compliance("audit", "summary", "wrapped.log", "--format", "json", cwd=tmp_path)
    assert json.loads(inside.stdout) == json.loads(bare.stdout)
    assert json.loads(bare.stdout)["rows"][0]["count"] == 6


def test_the_report_holds_what_readers_were_shown(tmp_path: Path, audit_file: Path) -> None:
    serve(tmp_path, 6)
    day = json.loads(audit_file.read_text().splitlines()[0])["time"]
    from datetime import UTC, datetime

    today = datetime.fromtimestamp(day, UTC).date().isoformat()
    rules = next(p for p in tmp_path.rglob("*.yaml"))
    page = compliance("report", "--rules", str(rules), "--audit", "audit.jsonl", "-o", "-", cwd=tmp_path).stdout
    assert "<h3>What readers were shown (the audit trail)</h3>" in page
    assert f"<tr><td>{today}</td><td>ru-warning</td><td>warning</td><td>RU</td><td>injected</td><td>4</td></tr>" in page
    assert "4 decision events, from " in page and "counted in audit.jsonl." in page
    text = compliance(
        "report", "--rules", str(rules), "--audit", "audit.jsonl", "--format", "markdown", "-o", "-", cwd=tmp_path
    ).stdout
    assert f"| {today} | ru-warning | warning | RU | injected | 4 |" in text.splitlines()
    later = compliance(
        "report", "--rules", str(rules), "--audit", "audit.jsonl", "--audit-from", "2999-01-01", "-o", "-",
        cwd=tmp_path,
    ).stdout  # fmt: skip
    assert "<p>0 decision events, counted in audit.jsonl.</p>" in later
    missing = compliance("report", "--rules", str(rules), "--audit", "nothing.jsonl", cwd=tmp_path)
    assert missing.returncode == 2
    assert missing.stderr == (
        'compliance report: there is no file "nothing.jsonl"; check the path to the audit log; no report was written.\n'
    )


# --- the encoding of an event: from kept fragments, as json.dumps writes it ---------------------------

_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=12),
    st.sampled_from(["\u2028", "a\u2029b", "\u0085", 'q"uote\\', "\x00\x1f", "\x7f", "é", "😀"]),
)
_values = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(
    record=st.dictionaries(
        st.sampled_from(["event", "time", "request_id", "path", "rules", "chain", "seq", "prev"])
        | st.text(max_size=10),
        _values,
        max_size=8,
    )
)
def test_an_event_is_encoded_as_json_dumps_writes_it(record: dict[str, object]) -> None:
    """The line and the bytes the chain hashes are those of json.dumps, whatever the values, kept or not."""
    for _ in range(2):  # the second time from the kept template
        line, text = encode_event(record)
        assert line == audit_line(record)
        assert text == canonical(record)


def test_values_that_compare_equal_but_encode_apart_are_not_confused() -> None:
    # True == 1 == 1.0 as dict keys would be one entry: kept fragments must tell them apart.
    for value in ([1], [True], [1.0], {"a": 1}, {"a": True}, {"a": 1.0}, ["1"], [[1]]):
        assert encode_event({"v": value}) == (audit_line({"v": value}), canonical({"v": value}))
