"""In-process scenarios: the 100 KB page, the JSON API, the gzip page, the peers, the limit.

Every variant is checked once before it is timed (the notice is where it should
be, `Content-Length` is right, a page that gets no notice is untouched), then
timed in interleaved rounds against the bare app of its group.
"""

from __future__ import annotations

import gzip
import json
import logging
import logging.handlers
import queue
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from starlette.types import ASGIApp, Scope

from compliance.observe.audit import AUDIT_LOGGER
from compliance.respond import encoding
from compliance.respond.encoding import ACCELERATED, DEFAULT_LEVELS

from . import apps
from .driver import Collected, Timing, call, http_scope, interleave, time_app
from .model import Row, Section, Target, fmt
from .page import COUNTRY_IPS

__all__ = ["Checks", "Variant", "audit_places", "run_inprocess"]

RU, DE = COUNTRY_IPS["RU"], COUNTRY_IPS["DE"]
AFTER_H1 = b"</h1>"


class Checks:
    """What the benchmark verified about the responses it timed."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.failures: list[str] = []
        self.facts: dict[str, Any] = {}

    def expect(self, ok: bool, what: str) -> bool:
        (self.lines if ok else self.failures).append(what)
        return ok


@dataclass
class Variant:
    name: str
    app: ASGIApp
    scope: Scope
    check: Callable[[Collected], str | None] | None = None  # None when fine, else what is wrong
    before: Callable[[], None] | None = None  # run before each batch (and undone by `after`)
    after: Callable[[], None] | None = None

    def timed(self, n: int) -> float:
        if self.before is not None:
            self.before()
        try:
            return time_app(self.app, self.scope, n)
        finally:
            if self.after is not None:
                self.after()


def audit_places(app: ASGIApp, scope: Scope) -> tuple[list[dict[str, Any]], Collected]:
    """One request with the audit logger on: the rules of its audit event(s), and the response."""
    events: list[dict[str, Any]] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            events.append(json.loads(record.getMessage()))

    handler = Keep(logging.INFO)
    level = AUDIT_LOGGER.level
    AUDIT_LOGGER.addHandler(handler)
    AUDIT_LOGGER.setLevel(logging.INFO)
    try:
        got = call(app, scope)
    finally:
        AUDIT_LOGGER.removeHandler(handler)
        AUDIT_LOGGER.setLevel(level)
    return [rule for event in events for rule in event.get("rules", ())], got


def _length_ok(got: Collected) -> bool:
    length = got.header(b"content-length")
    return length is None or int(length) == len(got.body)


def _notice_check(page: bytes, markup: bytes, anchor: bytes, after: bool) -> Callable[[Collected], str | None]:
    """The body is the page with `markup` right before the last `anchor` (or right after the first)."""
    at = page.find(anchor) + len(anchor) if after else page.rfind(anchor)
    expected = page[:at] + markup + page[at:]

    def check(got: Collected) -> str | None:
        if got.status != 200:
            return f"status {got.status}"
        if not _length_ok(got):
            return "Content-Length does not match the body"
        body = got.body
        if body == expected:
            return None
        where = body.find(markup[:40])
        if where < 0:
            return "no notice in the body"
        return f"the notice is at byte {where}, not at {at} (right {'after' if after else 'before'} {anchor!r})"

    return check


def _soup_check(anchor: bytes, after: bool) -> Callable[[Collected], str | None]:
    """For the naive peer, which re-serialises the page: the notice comes right after / before `anchor`."""

    def check(got: Collected) -> str | None:
        body = got.body
        at = body.find(b'class="legal-notice"')
        if at < 0:
            return "no notice in the body"
        at = body.rfind(b"<", 0, at)
        if after and body[at - len(anchor) : at] != anchor:
            return f"the notice is not right after {anchor!r}"
        if not after and not body[at:].split(b"</aside>", 1)[1].lstrip().startswith(anchor):
            return f"the notice is not right before {anchor!r}"
        return None

    return check


def _untouched(reference: Collected, *, cache_headers: bool) -> Callable[[Collected], str | None]:
    def check(got: Collected) -> str | None:
        if got.body != reference.body:
            return "the body changed"
        if not cache_headers and got.headers != reference.headers:
            return "the headers changed"
        if cache_headers and got.header(b"cache-control") != b"private" and got.header(b"vary") is None:
            return "no Cache-Control: private / Vary on a jurisdiction-dependent page"
        return None

    return check


def _verify(variants: list[Variant], checks: Checks) -> None:
    for variant in variants:
        if variant.check is None:
            continue
        if isinstance(variant, _Deployed):
            got = variant.verify()
            problem = variant.check(got)
            events = (Path(variant.folder) / "audit.jsonl").read_text(encoding="utf-8").splitlines()
            if problem is None and not (events and '"outcome":"injected"' in events[-1]):
                problem = "no audit event with the notice injected reached the file"
            checks.expect(problem is None, f"{variant.name}: {problem or 'as expected'}")
            continue
        if variant.before is not None:
            variant.before()
        try:
            got = call(variant.app, variant.scope)
        finally:
            if variant.after is not None:
                variant.after()
        problem = variant.check(got)
        checks.expect(problem is None, f"{variant.name}: {problem or 'as expected'}")


def _time(variants: list[Variant], baseline: str, rounds: int, batch: float) -> Timing:
    return interleave({v.name: v.timed for v in variants}, rounds=rounds, batch_seconds=batch, baseline=baseline)


def run_inprocess(
    page: bytes,
    api: bytes,
    rules: Path,
    checks: Checks,
    *,
    rounds: int,
    batch: float,
    slow_rounds: int,
) -> list[Section]:
    markup = apps.notice_markup(rules)
    bare = apps.raw_app(page)
    wrapped = apps.ours(bare, rules)
    audited = apps.ours(bare, rules)
    metered = apps.ours(bare, rules, metrics=True)
    news, world = http_scope("/news/estuary-ferry", RU), http_scope("/world/estuary-ferry", RU)
    reference = call(bare, news)
    body_end_check = _notice_check(page, markup, b"</body>", after=False)
    selector_check = _notice_check(page, markup, AFTER_H1, after=True)

    # Where do our selector placements really land? (The audit event's `place`, and the bytes.)
    rules_seen, got = audit_places(wrapped, world)
    selector_rule = next((r for r in rules_seen if r.get("rule") == "bench-selector"), {})
    landed = selector_check(got)
    checks.facts["selector_place"] = selector_rule.get("place")
    checks.facts["selector_outcome"] = selector_rule.get("outcome")
    checks.facts["selector_after_h1"] = landed is None
    checks.expect(
        landed is None,
        f'{{after: "article h1"}}: audit outcome {selector_rule.get("outcome")!r}, place {selector_rule.get("place")!r}'
        f"; bytes: {landed or 'right after </h1>'}",
    )

    def audit_on() -> None:
        AUDIT_LOGGER.setLevel(logging.INFO)
        AUDIT_LOGGER.addHandler(_NULL)

    def audit_off() -> None:
        AUDIT_LOGGER.removeHandler(_NULL)
        AUDIT_LOGGER.setLevel(logging.NOTSET)

    page_variants = [
        Variant("bare app (raw ASGI, 100 KB page)", bare, news, _untouched(reference, cache_headers=False)),
        Variant(
            "pass-through (path no rule covers)",
            wrapped,
            http_scope("/about", RU),
            _untouched(reference, cache_headers=False),
        ),
        Variant(
            "covered path, reader elsewhere (no notice)",
            wrapped,
            http_scope("/news/estuary-ferry", DE),
            _untouched(reference, cache_headers=True),
        ),
        Variant("body-end notice", wrapped, news, body_end_check),
        Variant('{after: "article h1"} notice', wrapped, world, selector_check),
        Variant(
            "body-end notice with its CSS before </head>",
            wrapped,
            http_scope("/styled/estuary-ferry", RU),
            _styled_check,
        ),
        Variant("body-end notice, audit events on", audited, news, body_end_check, audit_on, audit_off),
        Variant("body-end notice, Prometheus metrics on", metered, news, body_end_check),
        _as_deployed(metered, http_scope("/styled/estuary-ferry", RU)),
        Variant(
            "limit, body-end: rfind + one copy",
            apps.LimitMiddleware(bare, markup, b"</body>", forward=False),
            news,
            body_end_check,
        ),
        Variant(
            "limit, body-end by a forward find + one copy",
            apps.LimitMiddleware(bare, markup, b"</body>", forward=True),
            news,
            None,
        ),
        Variant(
            "limit, after </h1>: find + one copy",
            apps.LimitMiddleware(bare, markup, AFTER_H1, forward=True, after=True),
            news,
            selector_check,
        ),
        Variant("bare app (Starlette HTMLResponse, same bytes)", apps.starlette_app(page, api), news, None),
    ]
    lol = apps.lolhtml_available()
    if lol:
        page_variants += [
            Variant(
                "lol-html, body-end (append to body)",
                apps.LolHtmlMiddleware(bare, markup, "body", "append"),
                news,
                body_end_check,
            ),
            Variant(
                'lol-html, after "article h1"',
                apps.LolHtmlMiddleware(bare, markup, "article h1", "after"),
                news,
                selector_check,
            ),
        ]
    _verify(page_variants, checks)
    page_timing = _time(page_variants, page_variants[0].name, rounds, batch)

    naive = [
        Variant("bare app (raw ASGI, 100 KB page) ", bare, news, None),
        Variant(
            "naive peer, body-end (BaseHTTPMiddleware + BeautifulSoup)",
            apps.NaiveNoticeMiddleware(bare, markup),
            news,
            _soup_check(b"</body>", after=False),
        ),
        Variant(
            'naive peer, after "article h1"',
            apps.NaiveNoticeMiddleware(bare, markup, "article h1"),
            news,
            _soup_check(AFTER_H1, after=True),
        ),
    ]
    _verify(naive, checks)
    naive_timing = _time(naive, naive[0].name, slow_rounds, batch)

    gz_body, gz_headers = apps.gzip_body(page)
    gz_bare = apps.raw_app(gz_body, extra=gz_headers)
    gz_variants = [
        Variant("bare app (gzip-6 100 KB page)", gz_bare, news, None),
        Variant(GZIP_ROW, apps.ours(gz_bare, rules), news, _gzip_check(page, markup), _zlib_only, _isal_again),
    ]
    if ACCELERATED:
        gz_variants.append(Variant(GZIP_ISAL_ROW, apps.ours(gz_bare, rules), news, _gzip_check(page, markup)))
    api_bare = apps.raw_app(api, b"application/json")
    api_variants = [
        Variant(f"bare app (JSON API, {len(api) // 1024} KB)", api_bare, http_scope("/api/region", RU), None),
        Variant(
            "JSON API, {json: legal_notices}",
            apps.ours(api_bare, rules),
            http_scope("/api/region", RU),
            _json_check(api),
        ),
    ]
    _verify(gz_variants + api_variants, checks)
    gz_timing = _time(gz_variants, gz_variants[0].name, rounds, batch)
    api_timing = _time(api_variants, api_variants[0].name, rounds, batch)

    return _sections(page_timing, naive_timing, gz_timing, api_timing, lol, len(page))


_NULL = logging.NullHandler()

AS_DEPLOYED = "as deployed: body-end with its CSS, audit events through a QueueHandler, metrics on"


class _Deployed(Variant):
    """The audit events go through the handler the operations guide recommends: a `QueueHandler`, and a
    `QueueListener` thread writing them to a file. The listener's work counts: each batch ends when it
    has written every event of the batch."""

    def __init__(self, app: ASGIApp, scope: Scope) -> None:
        super().__init__(AS_DEPLOYED, app, scope, _styled_check)
        self.queue: queue.Queue[logging.LogRecord] = queue.Queue()
        self.folder = tempfile.mkdtemp(prefix="compliance-bench-audit-")
        self.file = logging.FileHandler(f"{self.folder}/audit.jsonl", delay=True)
        self.file.setFormatter(logging.Formatter("%(message)s"))
        self.listener = logging.handlers.QueueListener(self.queue, self.file)
        self.handler = logging.handlers.QueueHandler(self.queue)

    def on(self) -> None:
        self.listener.start()
        AUDIT_LOGGER.setLevel(logging.INFO)
        AUDIT_LOGGER.addHandler(self.handler)

    def off(self) -> None:
        AUDIT_LOGGER.removeHandler(self.handler)
        AUDIT_LOGGER.setLevel(logging.NOTSET)
        self.listener.stop()  # writes what is still queued, then ends the thread

    def timed(self, n: int) -> float:
        self.on()
        began = time.perf_counter()
        try:
            time_app(self.app, self.scope, n)
        finally:
            self.off()
        return (time.perf_counter() - began) / n

    def verify(self) -> Collected:
        self.on()
        try:
            return call(self.app, self.scope)
        finally:
            self.off()


def _as_deployed(app: ASGIApp, scope: Scope) -> Variant:
    return _Deployed(app, scope)


GZIP_ROW = "gzip page, body-end notice (decoded, changed, encoded again), zlib"
GZIP_ISAL_ROW = "gzip page, body-end notice, with the isal extra (ISA-L)"
_ISAL = encoding._isal_zlib


def _zlib_only() -> None:
    """What a site without the `isal` extra runs (the module's choice, made at import, undone)."""
    encoding._isal_zlib = None


def _isal_again() -> None:
    encoding._isal_zlib = _ISAL


def _styled_check(got: Collected) -> str | None:
    body = got.body
    head_end, body_end = body.find(b"</head>"), body.rfind(b"</body>")
    style = body.rfind(b"<style", 0, head_end)
    notice = body.rfind(b'data-legal-notice="bench-notice-css"', 0, body_end)
    if not _length_ok(got):
        return "Content-Length does not match the body"
    if style < 0 or b"bench-notice-css" not in body[style:head_end]:
        return "no notice <style> right before </head>"
    if notice < 0 or body.find(b"</aside>", notice) + len(b"</aside>") != body_end:
        return "the notice is not right before </body>"
    return None


def _gzip_check(page: bytes, markup: bytes) -> Callable[[Collected], str | None]:
    inner = _notice_check(page, markup, b"</body>", after=False)

    def check(got: Collected) -> str | None:
        try:
            plain = gzip.decompress(got.body)
        except OSError as exc:
            return f"the body does not decompress: {exc}"
        if not _length_ok(got):
            return "Content-Length does not match the body"
        return inner(Collected(got.status, [], [plain]))

    return check


def _json_check(api: bytes) -> Callable[[Collected], str | None]:
    def check(got: Collected) -> str | None:
        try:
            value = json.loads(got.body)
        except ValueError as exc:
            return f"not JSON: {exc}"
        if not _length_ok(got):
            return "Content-Length does not match the body"
        notices = value.get("legal_notices")
        if not notices or notices[0].get("id") != "bench-notice":
            return "no legal_notices field"
        return None if value.get("articles") == json.loads(api)["articles"] else "the app's fields changed"

    return check


IN_PROCESS_TARGETS = {
    "pass-through (path no rule covers)": Target("<=", 0.5, "µs"),
    "covered path, reader elsewhere (no notice)": Target("<=", 3, "µs"),
    "body-end notice": Target("<=", 8, "µs"),
    '{after: "article h1"} notice': Target("<=", 60, "µs"),
    GZIP_ISAL_ROW: Target("<=", 100, "µs"),
    AS_DEPLOYED: Target("<=", 15, "µs"),
}


def _cost_row(timing: Timing, name: str, *, baseline: bool = False) -> Row:
    added = 0.0 if baseline else timing.added_us(name)
    target = IN_PROCESS_TARGETS.get(name)
    return Row(
        name.rstrip(),
        {
            "median µs": fmt(timing.median_us(name)),
            "added µs": "" if baseline else fmt(added),
            "± µs": fmt(timing.spread_us(name)),
            "ratio to bare": "1" if baseline else fmt(timing.ratio(name)),
        },
        value=added,
        target=target,
        data={
            "median_us": timing.median_us(name),
            "added_us": added,
            "ratio": 1.0 if baseline else timing.ratio(name),
            "rounds_s": timing.rounds[name],
        },
    )


def _sections(page: Timing, naive: Timing, gz: Timing, api: Timing, lol: bool, page_size: int) -> list[Section]:
    columns = ["median µs", "added µs", "± µs", "ratio to bare"]
    main = Section("inprocess", f"In process, per response ({page_size // 1024} KB page unless said)", columns)
    for timing in (page, gz, api):
        for name in timing.rounds:
            main.add(_cost_row(timing, name, baseline=name == timing.baseline))
    for name in naive.rounds:
        main.add(_cost_row(naive, name, baseline=name == naive.baseline))
    main.notes.append(
        "added µs: the median over interleaved rounds of (variant − bare app in the same round); "
        "± µs: half the interquartile range of the rounds."
    )
    main.notes.append(
        f"The gzip page is compressed at level 6 by the app; the middleware decodes it and encodes it again at "
        f"its own level (gzip {DEFAULT_LEVELS['gzip']}; ISA-L's level 1 with the isal extra), through zlib and "
        f"through ISA-L{'' if ACCELERATED else ' (not installed in this run: its row is missing)'}. "
        "The naive peer parses with BeautifulSoup's html.parser."
    )

    peers = Section(
        "peers",
        "Against the naive peer and lol-html (same notice, same page, added µs)",
        ["ours", "peer", "peer / ours"],
    )
    pairs = [
        (
            "naive peer, body-end",
            naive,
            "naive peer, body-end (BaseHTTPMiddleware + BeautifulSoup)",
            "body-end notice",
            20.0,
        ),
        (
            'naive peer, after "article h1"',
            naive,
            'naive peer, after "article h1"',
            '{after: "article h1"} notice',
            20.0,
        ),
    ]
    if lol:
        pairs += [
            ("lol-html, body-end", page, "lol-html, body-end (append to body)", "body-end notice", 1.0),
            ('lol-html, after "article h1"', page, 'lol-html, after "article h1"', '{after: "article h1"} notice', 1.0),
        ]
    for label, timing, peer_name, ours_name, factor in pairs:
        ours_added = page.added_us(ours_name)
        peer_added = timing.added_us(peer_name)
        ratio = peer_added / ours_added if ours_added > 0 else float("inf")
        target = Target(">=", factor, "×") if factor > 1 else Target(">", 1.0, "×")
        peers.add(
            Row(
                label,
                {"ours": fmt(ours_added), "peer": fmt(peer_added), "peer / ours": fmt(ratio)},
                value=ratio,
                target=target,
                data={"ours_added_us": ours_added, "peer_added_us": peer_added, "ratio": ratio},
            )
        )
    if not lol:
        peers.notes.append("python-lolhtml is not installed: lol-html was not measured.")
    return [main, peers]
