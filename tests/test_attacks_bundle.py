"""Attacks through the bundle server or the path to it, each performed by a real HTTP server on loopback."""

from __future__ import annotations

import gc
import gzip
import json
import threading
import time
import tracemalloc
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import brotli
import pytest

from compliance import ComplianceMiddleware, ConfigError, Jurisdiction
from compliance.cli import main
from compliance.sources.bundle import BundleError, BundleOrigin
from compliance.sources.signed import generate_key, sign_bundle
from tests.server import free_port
from tests.test_reload import rules_text

RU = Jurisdiction("RU", None, False, "static")


class Site:
    """An HTTP server on 127.0.0.1 serving files by path, that can redirect, trickle and record requests."""

    def __init__(self) -> None:
        self.port = free_port()
        self.files: dict[str, tuple[int, dict[str, str], bytes]] = {}
        self.seen: list[tuple[str, dict[str, str]]] = []
        self.trickle = 0.0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.seen.append((self.path, {k.lower(): v for k, v in self.headers.items()}))
                status, headers, body = server.files.get(self.path, (404, {}, b"not found"))
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if server.trickle:
                    try:
                        for i in range(len(body)):
                            self.wfile.write(body[i : i + 1])
                            self.wfile.flush()
                            time.sleep(server.trickle)
                    except OSError:
                        return  # the client gave up, as it should
                else:
                    self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def put(self, path: str, body: bytes, status: int = 200, **headers: str) -> None:
        self.files[path] = (status, {"Content-Type": "application/yaml", **headers}, body)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def site() -> Iterator[Site]:
    server = Site()
    yield server
    server.close()


@pytest.fixture
def other() -> Iterator[Site]:
    server = Site()
    yield server
    server.close()


RULES = rules_text("a").encode()


# -- 9. encodings -------------------------------------------------------------------------------------


def test_a_brotli_bomb_is_refused_before_it_is_decoded(site: Site) -> None:
    # Attack: a few KB of br that decodes to gigabytes, sent to every server that polls the bundle.
    bomb = brotli.compress(b"\0" * (512 * 1024 * 1024), quality=5)
    assert len(bomb) < 64 * 1024
    site.put("/rules", bomb, **{"Content-Encoding": "br"})
    tracemalloc.start()
    try:
        with pytest.raises(ConfigError, match="encoded as 'br', which is refused"):
            ComplianceMiddleware(lambda *a: None, rules=site.url("/rules"), reload_interval=None)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 16 * 1024 * 1024


def test_a_gzip_bomb_is_decoded_only_up_to_the_cap(site: Site) -> None:
    bomb = gzip.compress(b"\0" * (200 * 1024 * 1024), compresslevel=9)
    site.put("/rules", bomb, **{"Content-Encoding": "gzip"})
    tracemalloc.start()
    try:
        with pytest.raises(ConfigError, match="larger than"):
            ComplianceMiddleware(lambda *a: None, rules=site.url("/rules"), reload_interval=None)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 120 * 1024 * 1024  # the 32 MiB cap, and its copies; never the 200 MB


def test_a_gzip_encoded_bundle_still_loads(site: Site) -> None:
    site.put("/rules", gzip.compress(RULES), **{"Content-Encoding": "gzip"})
    mw = ComplianceMiddleware(lambda *a: None, rules=site.url("/rules"), reload_interval=None)
    assert mw.rules.engine.decide(RU, "", "/news/a").fired
    assert site.seen[0][1]["accept-encoding"] == "identity"


# -- 10. redirects, plain http, deadlines -----------------------------------------------------------


def test_credentials_do_not_follow_a_redirect_to_another_origin(site: Site, other: Site) -> None:
    # Attack: the bundle server (or whoever controls its responses) redirects to a host of its choosing
    # and collects the credentials the fleet sends.
    site.put("/rules", b"", status=302, Location=other.url("/stolen"))
    other.put("/stolen", RULES)
    secrets = {"Authorization": "Bearer fleet-token", "X-Api-Key": "k-123", "Cookie": "session=s"}
    mw = ComplianceMiddleware(lambda *a: None, rules=site.url("/rules"), reload_interval=None, bundle_headers=secrets)
    assert mw.rules.engine.decide(RU, "", "/news/a").fired
    assert site.seen[0][1]["x-api-key"] == "k-123"  # the bundle's own origin gets them
    (path, headers) = other.seen[0]
    assert path == "/stolen"
    assert not {"authorization", "x-api-key", "cookie"} & set(headers)


def test_a_plain_http_bundle_without_digest_or_signature_is_refused() -> None:
    with pytest.raises(ConfigError, match="plain http with no digest or signature"):
        ComplianceMiddleware(lambda *a: None, rules="http://rules.example.invalid/rules.yaml", reload_interval=None)


def test_a_plain_http_bundle_is_taken_when_the_operator_says_so_or_it_is_pinned() -> None:
    for options in ({"bundle_allow_http": True}, {"bundle_sha256": "0" * 64}):
        with pytest.raises(ConfigError) as raised:
            ComplianceMiddleware(
                lambda *a: None, rules="http://rules.example.invalid/rules.yaml", reload_interval=None, **options
            )
        assert "plain http" not in str(raised.value)  # refused later, for not being reachable


def test_a_server_that_trickles_the_bundle_cannot_hold_start_up(site: Site) -> None:
    # Attack: one byte every 0.2 s: each read is well inside the timeout between bytes.
    site.put("/rules", RULES)
    site.trickle = 0.2
    origin = BundleOrigin(site.url("/rules"), deadline=2.0)
    began = time.monotonic()
    with pytest.raises(BundleError, match="longer than 2 seconds"):
        origin.fetch(origin._connection(), None)
    assert time.monotonic() - began < 5
    origin.close()


# -- 11. Ed25519 signatures, revisions --------------------------------------------------------------


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("keys")
    found = {}
    for name in ("old", "new", "stranger"):
        private, public = generate_key()
        (folder / f"{name}.pem").write_bytes(private)
        (folder / f"{name}.pub.pem").write_bytes(public)
        found[name] = folder / name
    return found


def publish(site: Site, body: bytes, key: Path, revision: int, expires: float | None = None) -> None:
    site.put("/rules.yaml", body)
    site.put("/rules.yaml.sig", sign_bundle(body, Path(f"{key}.pem").read_bytes(), revision, expires))


def signed_source(site: Site, keys: list[Path], tmp_path: Path) -> ComplianceMiddleware:
    return ComplianceMiddleware(
        lambda *a: None,
        rules=site.url("/rules.yaml"),
        reload_interval=None,
        bundle_public_keys=[Path(f"{k}.pub.pem") for k in keys],
        bundle_cache_dir=tmp_path / "cache",
    )


def test_a_signed_bundle_loads_and_an_unsigned_or_forged_one_does_not(
    site: Site, keys: dict[str, Path], tmp_path: Path
) -> None:
    publish(site, RULES, keys["old"], 1)
    mw = signed_source(site, [keys["old"]], tmp_path)
    assert mw.rules.engine.decide(RU, "", "/news/a").fired
    # A compromised bundle server changes the rules: it cannot sign them.
    site.put("/rules.yaml", rules_text("b", "DE").encode())
    with pytest.raises(BundleError, match="signature is for another bundle"):
        mw.rules._origin.check(mw.rules.version, force=True)
    publish(site, rules_text("b", "DE").encode(), keys["stranger"], 2)
    with pytest.raises(BundleError, match="not among bundle_public_keys"):
        mw.rules._origin.check(mw.rules.version, force=True)
    del site.files["/rules.yaml.sig"]
    with pytest.raises(BundleError, match="signature file"):
        mw.rules._origin.check(mw.rules.version, force=True)
    assert mw.rules.engine.decide(RU, "", "/news/a").fired  # the rules in force stay


def test_an_old_validly_signed_bundle_cannot_be_replayed(site: Site, keys: dict[str, Path], tmp_path: Path) -> None:
    # Attack: the server serves last month's bundle (signed, genuine) that lacked a notice added since.
    old_body = rules_text("b", "DE").encode()
    publish(site, RULES, keys["old"], 20)
    mw = signed_source(site, [keys["old"]], tmp_path)
    old_sig = sign_bundle(old_body, Path(f"{keys['old']}.pem").read_bytes(), 10)
    site.put("/rules.yaml", old_body)
    site.put("/rules.yaml.sig", old_sig)
    with pytest.raises(BundleError, match="revision 10, and revision 20 is in force"):
        mw.rules._origin.check(mw.rules.version, force=True)
    # After a restart too: the revision in force is kept with the cached bundle.
    del mw
    gc.collect()  # the process's one source for this bundle goes with its last middleware
    again = signed_source(site, [keys["old"]], tmp_path)
    assert again.rules.engine.decide(RU, "", "/news/a").fired
    assert "revision 10" in str(again.rules.last_error)


def test_an_expired_signature_is_refused(site: Site, keys: dict[str, Path], tmp_path: Path) -> None:
    publish(site, RULES, keys["old"], 1, expires=time.time() - 1)
    with pytest.raises(ConfigError, match="signature expired"):
        signed_source(site, [keys["old"]], tmp_path)


def test_keys_rotate_with_both_configured(site: Site, keys: dict[str, Path], tmp_path: Path) -> None:
    publish(site, RULES, keys["old"], 1)
    mw = signed_source(site, [keys["old"], keys["new"]], tmp_path)
    publish(site, rules_text("b", "DE").encode(), keys["new"], 2)
    assert mw.rules._origin.check(mw.rules.version, force=True) is not None


def test_the_command_makes_keys_and_signs_a_bundle(site: Site, tmp_path: Path) -> None:
    bundle = tmp_path / "rules.yaml"
    bundle.write_bytes(RULES)
    assert main(["bundle", "keygen", "--out", str(tmp_path / "k")]) == 0
    assert (tmp_path / "k.pem").stat().st_mode & 0o077 == 0
    assert main(["bundle", "sign", str(bundle), "--key", str(tmp_path / "k.pem"), "--revision", "7"]) == 0
    document = json.loads((tmp_path / "rules.yaml.sig").read_text())
    assert document["revision"] == 7
    site.put("/rules.yaml", RULES)
    site.put("/rules.yaml.sig", (tmp_path / "rules.yaml.sig").read_bytes())
    mw = ComplianceMiddleware(
        lambda *a: None,
        rules=site.url("/rules.yaml"),
        reload_interval=None,
        bundle_public_keys=[tmp_path / "k.pub.pem"],
    )
    assert mw.rules.engine.decide(RU, "", "/news/a").fired
    # A bundle whose rules do not load is not signed.
    bundle.write_text("rules: [oops\n")
    assert main(["bundle", "sign", str(bundle), "--key", str(tmp_path / "k.pem")]) == 2
