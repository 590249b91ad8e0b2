"""The recommended audit handler: events queued on the request's thread, written in batches, losses recorded."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from compliance import ComplianceMiddleware
from compliance.observe.audit import audit_line
from compliance.observe.audit_file import AuditFileHandler
from compliance.observe.chain import CHAIN
from tests.conftest import ROOT, fetch, rule_file
from tests.test_audit_trail import RU, RULES, US, compliance, page

LOGGER = logging.getLogger("compliance.audit")


@pytest.fixture
def logger_state() -> Iterator[None]:
    level, propagate, handlers = LOGGER.level, LOGGER.propagate, list(LOGGER.handlers)
    for handler in handlers:  # pytest's own capture handlers among them
        LOGGER.removeHandler(handler)
    LOGGER.setLevel(logging.INFO)
    LOGGER.propagate = False
    try:
        yield
    finally:
        for handler in list(LOGGER.handlers):
            LOGGER.removeHandler(handler)
            if isinstance(handler, AuditFileHandler):
                handler.close()
        for handler in handlers:
            LOGGER.addHandler(handler)
        LOGGER.setLevel(level)
        LOGGER.propagate = propagate
        CHAIN.configure(None)


def alone(handler: logging.Handler) -> None:
    """The audit logger with this handler only (pytest adds its capture handlers to loggers that do not
    propagate while a test runs)."""
    for other in list(LOGGER.handlers):
        LOGGER.removeHandler(other)
    LOGGER.addHandler(handler)


def serve(tmp_path: Path, readers: list[str]) -> list[str]:
    app = ComplianceMiddleware(page, rules=rule_file(tmp_path, RULES), reload_interval=None)  # type: ignore[arg-type]
    return [fetch(app, f"/news/{n}", client=(ip, 40000)).text for n, ip in enumerate(readers)]


def events(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_events_reach_the_file_in_chain_order_and_verify(tmp_path: Path, logger_state: None) -> None:
    path = tmp_path / "audit.jsonl"
    handler = AuditFileHandler(path)
    alone(handler)
    serve(tmp_path, [RU, US, RU, RU, US, RU])
    handler.close()  # at shutdown: what is queued is written
    written = events(path)
    assert [e["event"] for e in written] == ["decision"] * 4
    assert [e["seq"] for e in written] == list(range(written[0]["seq"], written[0]["seq"] + 4))  # type: ignore[operator]
    result = compliance("audit", "verify", str(path), cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.endswith("No event was removed, changed or reordered.\n")


def test_the_writer_thread_writes_without_a_close(tmp_path: Path, logger_state: None) -> None:
    path = tmp_path / "audit.jsonl"
    handler = AuditFileHandler(path, flush_interval=0.01)
    alone(handler)
    serve(tmp_path, [RU, RU])
    for _ in range(500):  # the writer flushes every 10 ms; wait for it, up to 5 s
        if path.stat().st_size and path.read_bytes().count(b"\n") == 2:
            break
        handler._wake.wait(0.01)
    assert [e["event"] for e in events(path)] == ["decision", "decision"]


def test_a_full_queue_serves_the_page_and_records_the_gap_in_the_chain(tmp_path: Path, logger_state: None) -> None:
    path = tmp_path / "audit.jsonl"
    handler = AuditFileHandler(path, capacity=3)
    alone(handler)
    with handler._write_lock:  # the writer is stuck on a slow disk
        pages = serve(tmp_path, [RU] * 10)
        assert path.read_bytes() == b""
    assert all("data-legal-notice" in text for text in pages)  # every reader still got the notice
    assert handler.dropped == 7
    handler.close()
    written = events(path)
    assert [e["event"] for e in written] == ["decision"] * 3 + ["dropped"]
    assert written[-1]["count"] == 7
    assert written[-1]["seq"] == written[2]["seq"] + 1  # type: ignore[operator]  # the chain has no hole
    result = compliance("audit", "verify", str(path), cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "7 events were not written because the writer's queue was full, as recorded in the chain at " in (
        result.stdout
    )
    assert f"{path}:4" in result.stdout


def test_behind_other_handlers_it_writes_as_any_logging_handler(tmp_path: Path, logger_state: None) -> None:
    path = tmp_path / "audit.jsonl"
    handler = AuditFileHandler(path)
    seen: list[logging.LogRecord] = []
    other = logging.Handler()
    other.emit = seen.append  # type: ignore[method-assign]
    alone(handler)
    LOGGER.addHandler(other)
    app = ComplianceMiddleware(page, rules=rule_file(tmp_path, RULES), reload_interval=None)  # type: ignore[arg-type]
    for reader in [RU, "95.173.137.10", RU]:  # one page, one outcome: the network is the reader's own
        fetch(app, "/news/1", client=(reader, 40000))
    handler.close()
    assert [e["event"] for e in events(path)] == ["decision"] * 3
    assert [e["network"] for e in events(path)] == ["95.173.136.0/24", "95.173.137.0/24", "95.173.136.0/24"]
    assert [json.loads(r.getMessage())["seq"] for r in seen] == [e["seq"] for e in events(path)]
    assert compliance("audit", "verify", str(path), cwd=tmp_path).returncode == 0


def test_a_forked_worker_writes_its_own_chain_and_no_line_twice(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    script = textwrap.dedent(
        f"""
        import logging, os
        from pathlib import Path
        from compliance.observe.audit_file import AuditFileHandler
        from tests.test_audit_file import serve
        from tests.test_audit_trail import RU
        handler = AuditFileHandler({str(path)!r}, flush_interval=60)  # nothing written before the fork
        logger = logging.getLogger("compliance.audit")
        logger.addHandler(handler); logger.setLevel(logging.INFO); logger.propagate = False
        serve(Path({str(tmp_path)!r}), [RU, RU])
        child = os.fork()
        if child == 0:
            serve(Path({str(tmp_path)!r}), [RU, RU, RU])
            logging.shutdown()  # as a worker's exit does
            os._exit(0)
        os.waitpid(child, 0)
        serve(Path({str(tmp_path)!r}), [RU])
        """
    )
    subprocess.run(
        [sys.executable, "-W", "ignore::DeprecationWarning", "-c", script], cwd=ROOT, check=True, timeout=120
    )
    written = events(path)
    chains: dict[object, list[object]] = {}
    for event in written:
        chains.setdefault(event["chain"], []).append(event["seq"])
    assert sorted(len(seqs) for seqs in chains.values()) == [3, 3]  # the parent's 2 + 1, the child's 3
    assert all(seqs == list(range(1, 4)) for seqs in chains.values())
    result = compliance("audit", "verify", str(path), cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert ": 2 chains, " in result.stdout


def test_events_from_a_kept_template_are_the_events_encoded_whole_and_verify(
    tmp_path: Path, logger_state: None
) -> None:
    """The same rules and outcome on every page: only time, request id, path and chain place change."""
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    (tmp_path / "audit.pub").write_bytes(
        key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    path = tmp_path / "audit.jsonl"
    handler = AuditFileHandler(path)
    alone(handler)
    app = ComplianceMiddleware(
        page,  # type: ignore[arg-type]
        rules=rule_file(tmp_path, RULES),
        reload_interval=None,
        audit_signing_key=pem,
        audit_checkpoint_every=3,
    )
    paths = ["/news/1", "/news/ünï", "/news/%25s%22", "/news/a%E2%80%A8b", '/news/"q"\\', "/news/%7F", "/news/1"]
    ids = ["req-1", 'quote"d', None, "x" * 129, "a.b:c/d+e=f@g", None, "req-1"]
    readers = [RU, "95.173.137.10", "2a02:6b8::1", RU, "95.173.137.10", RU, "2a02:6b8::1"]
    for where, given, reader in zip(paths, ids, readers, strict=True):
        fetch(app, where, client=(reader, 40000), headers=None if given is None else {"x-request-id": given})
    handler.close()
    assert len(app.outcomes) == 1  # one outcome, kept once for every page that had it
    lines = path.read_text(encoding="utf-8").splitlines()
    written = [json.loads(line) for line in lines]
    decisions = [e for e in written if e["event"] == "decision"]
    assert [e["path"] for e in decisions] == [
        "/news/1", "/news/ünï", "/news/%s\"", "/news/a\u2028b", '/news/"q"\\', "/news/\x7f", "/news/1"
    ]  # fmt: skip
    assert [e["network"] for e in decisions] == [
        "95.173.136.0/24", "95.173.137.0/24", "2a02:6b8::/48", "95.173.136.0/24", "95.173.137.0/24",
        "95.173.136.0/24", "2a02:6b8::/48",
    ]  # fmt: skip
    got = [e["request_id"] for e in decisions]
    assert got[0] == got[6] == "req-1" and got[4] == "a.b:c/d+e=f@g"
    generated = [got[1], got[2], got[3], got[5]]
    assert len(set(generated)) == 4 and all(len(g) == 32 and int(g, 16) >= 0 for g in generated)  # type: ignore[arg-type]
    assert "\u2028" not in path.read_text(encoding="utf-8")  # a line splitter's line end stays escaped
    # Byte for byte the line that encoding the whole event gives, field order included.
    assert lines == [audit_line(event) for event in written]
    checkpoints = [e["event"] for e in written].count("checkpoint")
    assert checkpoints >= 2
    result = compliance("audit", "verify", str(path), "--public-key", "audit.pub", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"({checkpoints} with a good signature)" in result.stdout
