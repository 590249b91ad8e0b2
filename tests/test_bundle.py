"""Rule bundles over HTTP, against a real server on loopback that goes away, comes back and serves garbage."""

from __future__ import annotations

import gzip
import hashlib
import hmac
import io
import logging
import random
import tarfile
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from compliance import ConfigError, Jurisdiction, RuleFileError
from compliance.sources.bundle import (
    MAX_FILES,
    MAX_UNPACKED_BYTES,
    SIGNATURE_HEADER,
    BundleError,
    load_bundle,
    redact_url,
    sign,
)
from compliance.sources.reload import RuleSource
from tests.server import free_port
from tests.test_reload import BROKEN, rules_text

INTERVAL = 0.05
RU = Jurisdiction("RU", None, False, "static")
DE = Jurisdiction("DE", None, False, "static")
KEY = "bundle signing key"


class BundleServer:
    """An HTTP server on 127.0.0.1 serving one bundle at /rules, with ETags, that can stop and start again."""

    def __init__(self) -> None:
        self.port = free_port()
        self.body = b""
        self.content_type = "application/yaml"
        self.headers: dict[str, str] = {}
        self.status = 200
        self.requests: list[str | None] = []  # the If-None-Match of each request
        self.not_modified = 0
        self.authorization: list[str | None] = []
        self._server: ThreadingHTTPServer | None = None
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/rules"

    def serve(self, body: bytes, content_type: str = "application/yaml", **headers: str) -> None:
        with self._lock:
            self.body, self.content_type, self.headers = body, content_type, headers

    def start(self) -> None:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                with server._lock:
                    body, content_type, headers, status = (
                        server.body,
                        server.content_type,
                        server.headers,
                        server.status,
                    )
                etag = '"' + hashlib.sha256(body).hexdigest()[:20] + '"'
                given = self.headers.get("If-None-Match")
                server.requests.append(given)
                server.authorization.append(self.headers.get("Authorization"))
                if given == etag:
                    server.not_modified += 1
                    self.send_response(304)
                    self.send_header("ETag", etag)
                    self.end_headers()
                    return
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("ETag", etag)
                for name, value in headers.items():
                    self.send_header(name.replace("_", "-"), value)
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


@pytest.fixture
def server() -> Iterator[BundleServer]:
    s = BundleServer()
    s.serve(rules_text("old").encode())
    s.start()
    yield s
    s.stop()


@pytest.fixture
def sources() -> Iterator[list[RuleSource]]:
    """RuleSources made by a test, closed after it."""
    made: list[RuleSource] = []
    yield made
    for source in made:
        source.close()


@pytest.fixture
def make(sources: list[RuleSource]) -> Callable[..., RuleSource]:
    def build(url: str, **options: object) -> RuleSource:
        options.setdefault("interval", INTERVAL)
        source = RuleSource(url, **options)  # type: ignore[arg-type]
        sources.append(source)
        source.start()
        return source

    return build


def fired(source: RuleSource, who: Jurisdiction = RU) -> tuple[str, ...]:
    return tuple(f.rule.id for f in source.engine.decide(who, "", "/news/story", time.time()).fired)


def wait_for(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {timeout} s")
        time.sleep(0.005)


def tar_gz(files: dict[str, str | bytes], *, gzip: bool = True, links: dict[str, str] | None = None) -> bytes:
    """A (gzipped) tar of `files` (path -> content), as `tar czf` makes one."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz" if gzip else "w") as archive:
        for name, content in files.items():
            data = content.encode() if isinstance(content, str) else content
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = 1_700_000_000
            archive.addfile(info, io.BytesIO(data))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type = tarfile.SYMTYPE
            info.linkname = target
            archive.addfile(info)
    return out.getvalue()


def errors_logged(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "compliance" and r.levelno >= logging.ERROR]


# --- fetching, polling, swapping ----------------------------------------------------------------


def test_a_yaml_bundle_loads_at_start_and_is_kept_in_the_cache(
    server: BundleServer, make: Callable[..., RuleSource], tmp_path: Path
) -> None:
    source = make(server.url, cache_dir=tmp_path / "cache")
    assert fired(source) == ("old-first", "old-second")
    assert source.version == hashlib.sha256(server.body).hexdigest()
    (cached,) = (tmp_path / "cache").iterdir()
    assert cached.read_bytes().endswith(server.body)
    assert not [p for p in (tmp_path / "cache").iterdir() if p.name.endswith(".tmp")]


def test_polling_sends_the_etag_and_a_304_changes_nothing(
    server: BundleServer, make: Callable[..., RuleSource]
) -> None:
    source = make(server.url)
    engine = source.engine
    wait_for(lambda: server.not_modified >= 3)
    assert server.requests[0] is None
    assert all(etag is not None and etag.startswith('"') for etag in server.requests[1:])
    assert source.engine is engine and source.last_error is None


def test_a_new_bundle_is_swapped_in(server: BundleServer, make: Callable[..., RuleSource]) -> None:
    source = make(server.url)
    first = source.version
    server.serve(rules_text("new").encode())
    wait_for(lambda: fired(source) == ("new-first", "new-second"))
    assert source.version == hashlib.sha256(server.body).hexdigest() != first


def test_a_tar_gz_of_a_rules_folder_is_a_bundle(server: BundleServer, make: Callable[..., RuleSource]) -> None:
    bundle = tar_gz(
        {
            "rules/ru.yaml": rules_text("ru"),
            "rules/more/de.yaml": rules_text("de", "DE"),
            "rules/tests/cases.yaml": "not: [a, rule, file",
            "rules/README.md": "# Rules",
        }
    )
    server.serve(bundle, "application/octet-stream")  # told apart by its content
    source = make(server.url)
    assert fired(source) == ("ru-first", "ru-second")
    assert fired(source, DE) == ("de-first", "de-second")
    server.serve(tar_gz({"ru.yaml": rules_text("plain")}, gzip=False), "application/x-tar")
    wait_for(lambda: fired(source) == ("plain-first", "plain-second"))
    assert fired(source, DE) == ()


def test_a_bundle_with_a_rule_error_is_refused_and_logged_with_file_line_and_column(
    server: BundleServer, make: Callable[..., RuleSource], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="compliance")
    source = make(server.url)
    version = source.version
    server.serve(tar_gz({"rules/ru.yaml": BROKEN}), "application/gzip")
    wait_for(lambda: source.last_error is not None)
    assert isinstance(source.last_error, RuleFileError)
    assert fired(source) == ("old-first", "old-second") and source.version == version
    requests = len(server.requests)
    wait_for(lambda: len(server.requests) >= requests + 4)
    (message,) = errors_logged(caplog)  # polled again and again, logged once
    assert "rules/ru.yaml:7:13: error[unknown-notice]" in message
    assert "rules/ru.yaml:11:21: error[unknown-jurisdiction]" in message
    assert server.url in message
    server.serve(rules_text("fixed").encode())
    wait_for(lambda: fired(source) == ("fixed-first", "fixed-second"))
    assert source.last_error is None


@pytest.mark.parametrize(
    ("body", "content_type", "why"),
    [
        (b"\xff" + random.Random(5).randbytes(4096), "application/octet-stream", "not UTF-8"),
        (b"<html><body><h1>502 Bad Gateway</h1></body></html>", "text/html", None),
        (tar_gz({"ru.yaml": rules_text("cut")})[:-40], "application/gzip", "gzip"),
        (b"\x1f\x8bnot really gzip at all", "application/gzip", "gzip"),
        (b"", "application/yaml", "empty"),
        (tar_gz({"rules/README.md": "# no rules here"}), "application/gzip", "no *.yaml"),
    ],
    ids=["random-bytes", "html-error-page", "truncated-gzip", "bad-gzip", "empty", "no-rule-files"],
)
def test_garbage_is_refused_and_the_rules_stay(
    server: BundleServer,
    make: Callable[..., RuleSource],
    caplog: pytest.LogCaptureFixture,
    body: bytes,
    content_type: str,
    why: str | None,
) -> None:
    source = make(server.url)
    server.serve(body, content_type)
    wait_for(lambda: source.last_error is not None)
    assert fired(source) == ("old-first", "old-second")
    if why is not None:
        assert isinstance(source.last_error, BundleError) and why in str(source.last_error)
    assert len(errors_logged(caplog)) == 1


def test_the_server_going_away_and_coming_back(
    server: BundleServer, make: Callable[..., RuleSource], caplog: pytest.LogCaptureFixture
) -> None:
    source = make(server.url)
    server.stop()
    wait_for(lambda: source.last_error is not None)
    assert isinstance(source.last_error, BundleError) and "could not be fetched" in str(source.last_error)
    assert fired(source) == ("old-first", "old-second")
    time.sleep(INTERVAL * 4)
    assert len(errors_logged(caplog)) == 1, "a server that stays down is reported once"
    server.serve(rules_text("back").encode())
    server.start()
    wait_for(lambda: fired(source) == ("back-first", "back-second"))
    assert source.last_error is None


def test_an_http_error_status_is_refused(server: BundleServer, make: Callable[..., RuleSource]) -> None:
    source = make(server.url)
    server.status = 503
    server.serve(b"maintenance")
    wait_for(lambda: source.last_error is not None)
    assert "HTTP 503" in str(source.last_error)
    assert fired(source) == ("old-first", "old-second")


# --- cold starts --------------------------------------------------------------------------------


def test_a_cold_start_while_the_server_is_down_uses_the_last_good_bundle(
    server: BundleServer, make: Callable[..., RuleSource], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cache = tmp_path / "cache"
    first = make(server.url, cache_dir=cache)
    first.close()
    server.stop()
    source = make(server.url, cache_dir=cache)
    assert fired(source) == ("old-first", "old-second")
    assert source.version == first.version
    assert isinstance(source.last_error, ConfigError | BundleError)
    assert any("last good bundle" in m for m in errors_logged(caplog))
    server.start()  # back, with the same bundle: a 304, and nothing is wrong any more
    wait_for(lambda: source.last_error is None)
    assert server.not_modified >= 1


def test_a_cold_start_with_the_server_down_and_nothing_cached_fails(server: BundleServer, tmp_path: Path) -> None:
    server.stop()
    with pytest.raises(ConfigError, match="cannot load the rule bundle"):
        RuleSource(server.url, interval=None, cache_dir=tmp_path / "cache")
    with pytest.raises(ConfigError):
        RuleSource(server.url, interval=None)


def test_a_cold_start_with_a_broken_bundle_raises_unless_a_good_one_is_cached(
    server: BundleServer, make: Callable[..., RuleSource], tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    make(server.url, cache_dir=cache, interval=None)
    server.serve(BROKEN.encode())
    with pytest.raises(RuleFileError) as caught:
        RuleSource(server.url, interval=None)
    assert caught.value.path == "rules" and caught.value.line == 7
    source = make(server.url, cache_dir=cache)
    assert fired(source) == ("old-first", "old-second")
    assert isinstance(source.last_error, RuleFileError)


def test_a_damaged_cache_is_not_used(server: BundleServer, make: Callable[..., RuleSource], tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    make(server.url, cache_dir=cache, interval=None)
    (cached,) = cache.iterdir()
    blob = cached.read_bytes()
    cached.write_bytes(blob.replace(b"old-first", b"new-first"))
    server.stop()
    with pytest.raises(ConfigError, match="no usable cached bundle"):
        RuleSource(server.url, interval=None, cache_dir=cache)


# --- verification ---------------------------------------------------------------------------------


def test_an_hmac_signature_is_checked(
    server: BundleServer, make: Callable[..., RuleSource], caplog: pytest.LogCaptureFixture
) -> None:
    body = server.body
    signature = "sha256=" + hmac.new(KEY.encode(), body, hashlib.sha256).hexdigest()
    assert sign(body, KEY) == signature
    server.serve(body, **{SIGNATURE_HEADER: signature})
    source = make(server.url, hmac_key=KEY)
    assert fired(source) == ("old-first", "old-second")
    # A new bundle signed with another key: refused, the rules in force stay.
    server.serve(rules_text("forged").encode(), **{SIGNATURE_HEADER: sign(rules_text("forged").encode(), "other")})
    wait_for(lambda: source.last_error is not None)
    assert "does not match" in str(source.last_error)
    assert fired(source) == ("old-first", "old-second")
    # No signature at all: refused too.
    server.serve(rules_text("unsigned").encode())
    wait_for(lambda: "no X-Bundle-Signature" in str(source.last_error))
    # Signed properly: in force.
    good = rules_text("signed").encode()
    server.serve(good, **{SIGNATURE_HEADER: sign(good, KEY.encode())})
    wait_for(lambda: fired(source) == ("signed-first", "signed-second"))
    with pytest.raises(ConfigError, match="does not match"):
        server.serve(good, **{SIGNATURE_HEADER: sign(good, "other")})
        RuleSource(server.url, interval=None, hmac_key=KEY)


def test_a_sha256_digest_pins_the_bundle(server: BundleServer, make: Callable[..., RuleSource]) -> None:
    digest = hashlib.sha256(server.body).hexdigest()
    assert fired(make(server.url, sha256=digest.upper(), interval=None)) == ("old-first", "old-second")
    with pytest.raises(ConfigError, match="SHA-256"):
        RuleSource(server.url, interval=None, sha256=hashlib.sha256(b"other").hexdigest())
    with pytest.raises(ConfigError, match="not a hex SHA-256"):
        RuleSource(server.url, interval=None, sha256="abc")


def test_credentials_in_the_url_are_not_logged() -> None:
    assert redact_url("https://user:secret@rules.example:8443/b.tar.gz?token=abc") == (
        "https://rules.example:8443/b.tar.gz"
    )


def test_request_headers_are_sent(server: BundleServer, make: Callable[..., RuleSource]) -> None:
    make(server.url, headers={"Authorization": "Bearer t0ken"}, interval=None)
    assert server.authorization == ["Bearer t0ken"]


# --- unpacking safely ---------------------------------------------------------------------------


def _tar_with(member: tarfile.TarInfo, data: bytes = b"") -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as archive:
        archive.addfile(member, io.BytesIO(data) if data else None)
    return out.getvalue()


def _member(name: str, kind: bytes = tarfile.REGTYPE, size: int = 0, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.size = size
    info.linkname = link
    return info


@pytest.mark.parametrize(
    ("bundle", "why"),
    [
        (_tar_with(_member("/etc/rules.yaml", size=4), b"a: 1"), "absolute path"),
        (_tar_with(_member("rules/../../escape.yaml", size=4), b"a: 1"), "leaves its folder"),
        (_tar_with(_member("rules/ru.yaml", tarfile.SYMTYPE, link="/etc/passwd")), "link"),
        (_tar_with(_member("rules/ru.yaml", tarfile.LNKTYPE, link="other.yaml")), "link"),
        (_tar_with(_member("rules/fifo", tarfile.FIFOTYPE)), "neither a file nor a folder"),
        (_tar_with(_member("rules/dev", tarfile.CHRTYPE)), "neither a file nor a folder"),
    ],
    ids=["absolute", "dot-dot", "symlink", "hardlink", "fifo", "device"],
)
def test_unsafe_archives_are_refused(bundle: bytes, why: str, tmp_path: Path) -> None:
    with pytest.raises(BundleError, match=why):
        load_bundle(bundle, "rules.tar.gz", "application/gzip")
    assert not (tmp_path.parent / "escape.yaml").exists()


def _header(name: str, size: int = 0) -> bytes:
    info = tarfile.TarInfo(name)
    info.size = size
    return info.tobuf()


def test_an_archive_that_unpacks_too_large_is_refused() -> None:
    size = MAX_UNPACKED_BYTES + 1
    packer = zlib.compressobj(1, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    parts = [packer.compress(_header("rules/huge.yaml", size))]
    block = b"#" * (1 << 20)
    for start in range(0, size, len(block)):
        parts.append(packer.compress(block[: size - start]))
    parts.append(packer.compress(b"\0" * (1024 + 512 - size % 512)) + packer.flush())
    bomb = b"".join(parts)
    assert len(bomb) < MAX_UNPACKED_BYTES // 100
    with pytest.raises(BundleError, match="unpacks to more than"):
        load_bundle(bomb)


def test_an_archive_with_too_many_entries_is_refused() -> None:
    headers = b"".join(_header(f"rules/{i}.yaml") for i in range(MAX_FILES + 1))
    with pytest.raises(BundleError, match="entries"):
        load_bundle(gzip.compress(headers + b"\0" * 1024, compresslevel=1))


def test_a_symlink_in_a_bundle_is_refused_over_http(server: BundleServer, make: Callable[..., RuleSource]) -> None:
    source = make(server.url)
    server.serve(tar_gz({"rules/ru.yaml": rules_text("linked")}, links={"rules/de.yaml": "/etc/hosts"}))
    wait_for(lambda: source.last_error is not None)
    assert "link" in str(source.last_error)
    assert fired(source) == ("old-first", "old-second")
