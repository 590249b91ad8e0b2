"""Attacks through rule files: placements that would replace the site's own headers, links that leave
the site, and "files" that are not files. Refused at load, with what to write instead."""

from __future__ import annotations

import os
import textwrap
import threading
import time
from pathlib import Path

import httpx
import pytest

from compliance import ComplianceMiddleware
from compliance.errors import RuleFileError
from compliance.rules import load_rules
from tests.conftest import NOTICE_YAML, RU_IP, rule_file
from tests.server import serve

HEADER_RULE = """
rules:
  - id: ru-header
    notice: warning
    jurisdictions: [RU]
    placement: {{header: "{name}"}}
"""


async def guarded(scope: object, receive: object, send: object) -> None:
    """A page whose own headers protect it."""
    headers = [
        (b"content-type", b"text/html; charset=utf-8"),
        (b"x-frame-options", b"DENY"),
        (b"content-security-policy", b"default-src 'self'"),
        (b"set-cookie", b"session=abc; Secure; HttpOnly"),
    ]
    await send({"type": "http.response.start", "status": 200, "headers": headers})  # type: ignore[operator]
    await send({"type": "http.response.body", "body": b"<html><body>story</body></html>"})  # type: ignore[operator]


@pytest.mark.parametrize(
    "name",
    [
        "X-Frame-Options", "Content-Security-Policy", "Content-Security-Policy-Report-Only",
        "Access-Control-Allow-Origin", "Access-Control-Allow-Credentials", "Set-Cookie", "Refresh", "Location",
        "Strict-Transport-Security", "Content-Type", "Content-Length", "Content-Encoding", "Content-Disposition",
        "Transfer-Encoding", "Cache-Control", "Vary", "Surrogate-Control", "Cloudflare-CDN-Cache-Control",
        "X-Accel-Redirect", "Cross-Origin-Opener-Policy", "Referrer-Policy", "Permissions-Policy", "Link",
        "WWW-Authenticate", "X-Content-Type-Options",
    ],
)  # fmt: skip
def test_a_notice_header_may_not_replace_what_protects_a_page(tmp_path: Path, name: str) -> None:
    # Attack: a rule that puts the notice ids in X-Frame-Options (or CSP, Set-Cookie...) of every page,
    # replacing the site's own value: framing allowed, the security policy or the session gone.
    with pytest.raises(RuleFileError) as raised:
        ComplianceMiddleware(guarded, rules=rule_file(tmp_path, HEADER_RULE.format(name=name)), reload_interval=None)
    message = str(raised.value)
    assert f'The header "{name}" is one the response needs' in message
    assert 'such as "X-Legal-Notices"' in message


def test_a_notice_header_of_its_own_leaves_the_page_guarded(tmp_path: Path) -> None:
    rules = rule_file(tmp_path, HEADER_RULE.format(name="X-Legal-Notices"))
    mw = ComplianceMiddleware(guarded, rules=rules, reload_interval=None, trusted_proxies=["127.0.0.1"])
    with serve(mw) as url:
        response = httpx.get(url + "/", headers={"X-Forwarded-For": RU_IP})
    assert response.headers["x-legal-notices"] == "warning"
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["content-security-policy"] == "default-src 'self'"
    assert response.headers["set-cookie"].startswith("session=abc")


LINKED = """\
notices:
  warning:
    title: Test warning
    text: {{en: "Take care."}}
    link: {{href: '{href}', text: {{en: "Why?"}}}}
rules:
  - id: ru-warning
    notice: warning
    jurisdictions: [RU]
"""


@pytest.mark.parametrize(
    "href",
    ["/\\evil.example/x", "\\\\evil.example/x", "//evil.example/x", "/\\/evil.example", "https://ok.example\\@evil"],
)
def test_a_notice_link_that_leads_off_the_site_is_refused(tmp_path: Path, href: str) -> None:
    # Attack: "/\\evil.example/x" passed as "a path on this site"; browsers read "\\" as "/".
    path = tmp_path / "rules.yaml"
    path.write_text(LINKED.format(href=href), encoding="utf-8")
    with pytest.raises(RuleFileError) as raised:
        load_rules(path)
    message = str(raised.value)
    assert "rules.yaml:5:" in message
    assert "write a path on this site" in message or "not a link address" in message


def test_a_path_on_the_site_is_still_a_link(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(LINKED.format(href="/about/notices"), encoding="utf-8")
    assert load_rules(path).notices["warning"].link is not None


# -- 12. rule folders hold regular files only, of bounded size ----------------------------------------


def _folder(tmp_path: Path) -> Path:
    folder = tmp_path / "rules"
    folder.mkdir()
    (folder / "main.yaml").write_text(
        NOTICE_YAML + textwrap.dedent("rules:\n  - {id: ru, notice: warning, jurisdictions: [RU]}\n"), encoding="utf-8"
    )
    return folder


def test_a_rule_file_that_is_a_symlink_to_dev_zero_is_refused(tmp_path: Path) -> None:
    # Attack: a "file" that never ends: read until MemoryError.
    folder = _folder(tmp_path)
    os.symlink("/dev/zero", folder / "zero.yaml")
    began = time.monotonic()
    with pytest.raises(RuleFileError) as raised:
        load_rules(folder)
    assert time.monotonic() - began < 5
    assert "zero.yaml" in str(raised.value) and "not a regular file" in str(raised.value)


def test_a_fifo_named_like_a_rule_file_does_not_hang_start_up(tmp_path: Path) -> None:
    # Attack: a FIFO named x.yaml: opening it blocks until someone writes.
    folder = _folder(tmp_path)
    os.mkfifo(folder / "x.yaml")
    outcome: list[BaseException | None] = []

    def load() -> None:
        try:
            load_rules(folder)
        except BaseException as error:
            outcome.append(error)
        else:
            outcome.append(None)

    thread = threading.Thread(target=load, daemon=True)
    thread.start()
    thread.join(timeout=10)
    if thread.is_alive():  # unblock the reader before failing
        with open(folder / "x.yaml", "wb"):
            pass
        pytest.fail("loading the rules blocked on a FIFO")
    assert isinstance(outcome[0], RuleFileError) and "not a regular file" in str(outcome[0])


def test_a_rule_file_over_the_size_cap_is_refused(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    (folder / "huge.yaml").write_bytes(b"# padding\n" * 1_100_000)  # 11 MB
    with pytest.raises(RuleFileError) as raised:
        load_rules(folder)
    assert "huge.yaml" in str(raised.value) and "MiB" in str(raised.value)


def test_a_symlink_to_a_regular_rule_file_is_still_read(tmp_path: Path) -> None:
    # Kubernetes ConfigMaps mount every file as a symlink into a "..data" folder.
    folder = _folder(tmp_path)
    (tmp_path / "extra.yaml").write_text("groups:\n  extra: [FR]\n", encoding="utf-8")
    os.symlink(tmp_path / "extra.yaml", folder / "extra.yaml")
    assert "extra" in load_rules(folder).groups
