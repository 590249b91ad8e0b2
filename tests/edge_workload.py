"""A news-site workload through a real shared cache: Zipf-popular URLs, readers from 22 jurisdictions.

Used by the tests (`test_edge_workload.py`) and the benchmark (`bench/edge.py`). Each
response's notices are checked against the decision core's answer (`Engine.decide`,
what `compliance explain` says) for that reader and URL: a response that differs is a
cross-class leak.
"""

from __future__ import annotations

import contextlib
import io
import random
import re
import textwrap
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import httpx

from compliance import ComplianceMiddleware
from compliance.reader.jurisdiction import Jurisdiction
from compliance.rules import load_rules
from compliance.rules.decide import Engine
from compliance.rules.model import HTML_PLACES
from tests.edge_servers import nginx, varnish
from tests.server import serve

RULES: Final = """\
notices:
  warning:
    title: Undesirable-organization warning
    text: {en: "Readers in Russia: take care.", ru: "Читатели в России: будьте осторожны."}
  eu-notice:
    title: EU notice
    text: {en: "An EU notice."}
  tor-notice:
    title: Tor notice
    text: {en: "You read us through Tor."}
  unknown-notice:
    title: Unknown-location notice
    text: {en: "We could not tell where you are."}
  california:
    title: California notice
    text: {en: "A notice for California."}
rules:
  - {id: ru, notice: warning, jurisdictions: [RU, UA-43, UA-14], except_paths: ["/static/**"]}
  - {id: eu, notice: eu-notice, jurisdictions: [DE, FR, IT], paths: ["/news/**"]}
  - {id: tor, notice: tor-notice, jurisdictions: [anonymous], paths: ["/opinion/**"]}
  - {id: unknown, notice: unknown-notice, jurisdictions: [unknown], paths: ["/news/**"]}
  - {id: ca, notice: california, jurisdictions: [US-CA], paths: ["/news/**", "/opinion/**"]}
"""

#: (CF-IPCountry, CF-Region) as a CDN sends them; `XX` is unknown and `T1` is Tor.
READERS: Final = (
    ("RU", ""),
    ("UA", "43"),
    ("UA", "14"),
    ("UA", "30"),
    ("DE", ""),
    ("FR", ""),
    ("IT", ""),
    ("US", ""),
    ("US", "CA"),
    ("US", "NY"),
    ("GB", ""),
    ("PL", ""),
    ("JP", ""),
    ("BR", ""),
    ("IN", ""),
    ("KZ", ""),
    ("BY", ""),
    ("CN", ""),
    ("TR", ""),
    ("NL", ""),
    ("XX", ""),
    ("T1", ""),
)

#: What the app sends to let shared caches store a page, one kind per URL in turn.
CACHE_HEADERS: Final = {
    "public": [(b"cache-control", b"public, max-age=600")],
    "s-maxage": [(b"cache-control", b"max-age=60, s-maxage=600")],
    "x-accel-expires": [(b"x-accel-expires", b"600")],
    "surrogate-control": [(b"surrogate-control", b"max-age=600")],
    "cdn-cache-control": [(b"cdn-cache-control", b"max-age=600")],
}
KINDS: Final = tuple(CACHE_HEADERS)
_NOTICE: Final = re.compile(r'data-legal-notice="([a-z0-9-]+)"')
COUNTRY_HEADER: Final = "CF-IPCountry"
REGION_HEADER: Final = "CF-Region"


def urls(count: int = 1000) -> list[str]:
    out = []
    for i in range(count):
        section = "news" if i % 10 < 6 else "opinion" if i % 10 < 9 else "static"
        out.append(f"/{section}/{i}")
    return out


def app_for(kinds: tuple[str, ...]) -> Any:
    """A news app: each URL's page, sending the cache header of its kind (by the URL's number)."""

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        number = int(scope["path"].rsplit("/", 1)[-1] or 0)
        body = f"<!DOCTYPE html><html><head><title>{number}</title></head><body><p>Story {number}</p></body></html>"
        data = body.encode()
        headers = [
            (b"content-type", b"text/html; charset=utf-8"),
            (b"content-length", str(len(data)).encode()),
            (b"etag", f'"{number}"'.encode()),
            *CACHE_HEADERS[kinds[number % len(kinds)]],
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else data})

    return app


def write_rules(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "rules.yaml"
    path.write_text(textwrap.dedent(RULES), encoding="utf-8")
    return path


def expected(engine: Engine, reader: tuple[str, str], path: str) -> frozenset[str]:
    """The notices the decision core says this reader gets on this page.

    A reader of `("", "")` is one the origin cannot place (no CDN header believed, a
    loopback peer): `unknown`.
    """
    country, region = reader
    if not country:
        jurisdiction = Jurisdiction(None, None, False, "none")
    elif country == "T1":
        jurisdiction = Jurisdiction(None, None, True, "header")
    elif country == "XX":
        jurisdiction = Jurisdiction(None, None, False, "header")
    else:
        jurisdiction = Jurisdiction(country, f"{country}-{region}" if region else None, False, "header")
    decision = engine.decide(jurisdiction, "", path)
    return frozenset(f.notice.id for f in decision.fired if f.enforced and f.rule.placement[0].kind in HTML_PLACES)


@dataclass(frozen=True)
class Result:
    requests: int
    hits: int
    leaks: int
    examples: tuple[str, ...]

    @property
    def hit_ratio(self) -> float:
        return self.hits / self.requests


def run(
    base: str, engine: Engine, *, requests: int = 20000, seed: int = 7, workers: int = 4, unplaced: bool = False
) -> Result:
    """`requests` requests (Zipf-popular URLs, uniform readers) through the cache at `base`.

    `unplaced`: the origin cannot place readers (it believes no CDN header), so each
    reader's due answer is what an `unknown` reader gets.
    """
    rng = random.Random(seed)
    pages = urls()
    weights = [1.0 / (rank + 1) for rank in range(len(pages))]
    order = rng.sample(pages, len(pages))  # popularity does not follow the URL's number
    plan = list(zip(rng.choices(order, weights, k=requests), rng.choices(READERS, k=requests), strict=True))
    chunks = [plan[i::workers] for i in range(workers)]

    def work(chunk: list[tuple[str, tuple[str, str]]]) -> tuple[int, int, list[str]]:
        hits = leaks = 0
        examples: list[str] = []
        with httpx.Client(base_url=base, timeout=30) as client:
            for path, reader in chunk:
                headers = {COUNTRY_HEADER: reader[0]}
                if reader[1]:
                    headers[REGION_HEADER] = reader[1]
                response = client.get(path, headers=headers)
                got = frozenset(_NOTICE.findall(response.text))
                due = expected(engine, ("", "") if unplaced else reader, path)
                if response.status_code != 200 or got != due:
                    leaks += 1
                    if len(examples) < 5:
                        examples.append(f"{reader} {path}: got {sorted(got)} ({response.headers.get('x-cache')})")
                if response.headers.get("x-cache") == "HIT":
                    hits += 1
        return hits, leaks, examples

    with ThreadPoolExecutor(workers) as pool:
        results = list(pool.map(work, chunks))
    return Result(
        requests,
        sum(r[0] for r in results),
        sum(r[1] for r in results),
        tuple(e for r in results for e in r[2]),
    )


def origin(rules: Path, kinds: tuple[str, ...], mode: str) -> Any:
    """The app as the cache's origin: `class` (the middleware honouring the class), `private`
    (the middleware placing readers itself, so its `private` fallback), any other mode (the
    middleware without the class: `Vary` on the CDN country header), or `bare` (no middleware)."""
    app = app_for(kinds)
    if mode == "bare":
        return app
    if mode == "private":
        return ComplianceMiddleware(app, rules=rules, metrics=False, reload_interval=None)
    return ComplianceMiddleware(
        app,
        rules=rules,
        trusted_proxies=["127.0.0.1"],
        country_header=COUNTRY_HEADER,
        region_header=REGION_HEADER,
        class_header="Compliance-Class" if mode == "class" else None,
        metrics=False,
        reload_interval=None,
    )


@contextlib.contextmanager
def through(cache: str, tmp: Path, rules: Path, kinds: tuple[str, ...], mode: str) -> Iterator[str]:
    """The origin in `mode`, behind a real `cache` (`nginx` or `varnish`) configured by `compliance edge`."""
    from compliance.cli import main

    out = tmp / "edge"
    args = ["edge", "--rules", str(rules), "--out", str(out), "--country-header", COUNTRY_HEADER]
    args += ["--region-header", REGION_HEADER, "--varnish-country-header", COUNTRY_HEADER]
    args += ["--varnish-region-header", REGION_HEADER]
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(args) == 0
    with serve(origin(rules, kinds, mode), proxy_headers=False) as upstream:
        if cache == "nginx":
            http, location = (out / "nginx-http.conf").read_text(), (out / "nginx-location.conf").read_text()
            with nginx(tmp, http, location, upstream) as url:
                yield url
        else:
            with varnish(tmp, (out / "compliance.vcl").read_text(), upstream) as url:
                yield url


def engine_for(rules: Path) -> Engine:
    return Engine(load_rules(rules))
