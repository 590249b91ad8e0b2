"""Against nginx's `sub_filter`: a real nginx, started by the benchmark, in front of the same uvicorn.

Two locations of one nginx (one worker, keep-alive to the upstream, no access log):
`/sub/...` proxies to the bare app and adds the notice with
`sub_filter '</body>' '<notice></body>'; sub_filter_once on;` (the same markup as
ours, before the first `</body>` it meets); `/mw/...` proxies to the app wrapped in
the middleware, which places the same notice `body-end`. Both serve the same 100
KB page, whose head has a script with `</body>` inside a string: where each notice
lands is read with html5lib, as a browser would build the page.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx

from tests.edge_servers import nginx_serving

from .apps import notice_markup
from .inprocess import Checks
from .model import Section, Target
from .serve import BARE_PREFIX
from .wire import Load, load, server
from .wire_scale import COLUMNS, RU, ratio_row

__all__ = ["NGINX", "nginx_available", "run_nginx_peer"]

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
CONNECTIONS = 16


def nginx_available() -> bool:
    return Path(NGINX).exists()


@contextlib.contextmanager
def _nginx(folder: Path, upstream: str, markup: bytes) -> Iterator[str]:
    replacement = markup.decode("utf-8").replace("\\", "\\\\").replace("'", "\\'") + "</body>"
    assert "$" not in replacement, "sub_filter would read $ as a variable"
    proxy = """
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $http_x_forwarded_for;"""
    server = f"""
    upstream app {{ server {upstream.removeprefix("http://")}; keepalive 32; }}
    server {{
        listen 127.0.0.1:@PORT@;
        location /sub/ {{
            proxy_pass http://app{BARE_PREFIX}/;{proxy}
            proxy_set_header Accept-Encoding "";
            sub_filter '</body>' '{replacement}';
            sub_filter_once on;
        }}
        location /mw/ {{
            proxy_pass http://app/;{proxy}
        }}
    }}"""
    with nginx_serving(folder / "nginx", server) as url:
        yield url


def where_notice(body: bytes) -> str:
    """Where a browser finds the notice in `body`, read with html5lib."""
    import html5lib

    tree = html5lib.parse(body, treebuilder="etree", namespaceHTMLElements=False)
    found = [el for el in tree.iter() if el.get("data-legal-notice")]
    if found:
        body_el = tree.find("body")
        last = list(body_el)[-1] if body_el is not None and len(body_el) else None
        at_end = len(found) == 1 and last is found[0]
        return "a real element, the last of <body>" if at_end else f"{len(found)} element(s), not at the end of <body>"
    for el in tree.iter():
        if el.tag in ("script", "style", "title", "textarea") and "data-legal-notice" in (el.text or ""):
            head = tree.find("head")
            inside = " in <head>" if head is not None and el in list(head) else ""
            return f"inside a <{el.tag}> string{inside}: no notice shown"
    return "nowhere"


def run_nginx_peer(rules: Path, checks: Checks, *, tool: str, rounds: int, seconds: float) -> Section:
    columns = [*COLUMNS[:4], "sub_filter p99 ms", "ours p99 ms", "where the notice lands (html5lib)"]
    section = Section(
        "nginx", "Against nginx sub_filter: nginx in front of uvicorn, the notice added by sub_filter or by us", columns
    )
    markup = notice_markup(rules)
    with contextlib.ExitStack() as stack:
        folder = stack.enter_context(tempfile.TemporaryDirectory(prefix="compliance-bench-nginx-"))
        base = stack.enter_context(server(rules))
        front = stack.enter_context(_nginx(Path(folder), base, markup))
        urls = {"bare": f"{front}/sub/news/estuary-ferry", "wrapped": f"{front}/mw/news/estuary-ferry"}
        places = {}
        for kind, url in urls.items():
            response = httpx.get(url, headers={"X-Forwarded-For": RU}, timeout=30)
            places[kind] = where_notice(response.content)
            checks.expect(
                response.status_code == 200 and markup in response.content,
                f"through nginx, {'sub_filter' if kind == 'bare' else 'the middleware'}: status "
                f"{response.status_code}, the notice's markup in the page {markup in response.content}, "
                f"where: {places[kind]}",
            )
        for url in urls.values():  # warm up
            load(tool, url, RU, 1, connections=CONNECTIONS)
        got: dict[str, list[Load]] = {"bare": [], "wrapped": []}
        for r in range(rounds):
            for kind in ("bare", "wrapped") if r % 2 == 0 else ("wrapped", "bare"):
                got[kind].append(load(tool, urls[kind], RU, seconds, connections=CONNECTIONS))
    row = ratio_row(
        "nginx → uvicorn + middleware (body-end), against nginx sub_filter '</body>' → bare uvicorn",
        got["bare"],
        got["wrapped"],
        Target(">=", 1.0),
        sub_filter_place=places["bare"],
        our_place=places["wrapped"],
    )
    row.cells["sub_filter p99 ms"] = row.cells.pop("bare p99 ms")
    row.cells["ours p99 ms"] = row.cells.pop("wrapped p99 ms")
    row.cells["where the notice lands (html5lib)"] = f"sub_filter: {places['bare']}; ours: {places['wrapped']}"
    row.cells["sub_filter req/s"] = row.cells.pop("bare req/s")
    row.cells["ours req/s"] = row.cells.pop("wrapped req/s")
    if not places["wrapped"].startswith("a real element, the last"):
        row.invalid = f"our notice is not at the end of the body ({places['wrapped']})"
    section.columns = ["sub_filter req/s", "ours req/s", *columns[2:]]
    section.add(row)
    section.notes.append(
        f"nginx {_nginx_version()}, 1 worker, keep-alive to uvicorn (1 worker); load: "
        f"{'wrk, 1 thread' if tool == 'wrk' else 'an async httpx client'}, {CONNECTIONS} connections, {seconds:g} s a "
        f"run, {rounds} interleaved rounds; ratio: ours / sub_filter requests a second, the median of the "
        "per-round ratios. The page's head has a script with `</body>` in a string; `sub_filter_once on` "
        "replaces the first `</body>` it meets."
    )
    return section


def _nginx_version() -> str:
    out = subprocess.run([NGINX, "-v"], capture_output=True, text=True).stderr.strip()
    return out.rsplit("/", 1)[-1] if "/" in out else out
