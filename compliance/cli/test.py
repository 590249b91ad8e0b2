"""`compliance test CASES... --rules PATH [--app MODULE:ATTR | --url URL]`: run the case files.

Three ways to run a case, one decision core:

* rules only (the default): `Engine.decide`, as the middleware calls it, on the
  case's jurisdiction, host and path; the notices are those the decision brings.
* `--app MODULE:ATTR`: the real app in this process, through httpx's
  ASGITransport. A case with `country:` reaches the middleware as an ASGI scope
  extension (`compliance.jurisdiction`) that no server sets, so nothing on the
  network can forge it; a case with `ip:` is the client address, so the real
  resolver runs.
* `--url URL`: a running server over HTTP. A case with `country:` carries a
  short-lived token, signed with the secret the server was started with
  (`--secret`, or COMPLIANCE_TEST_SECRET), scoped to the case's path and carrying
  its moment (`at:`), in the `Compliance-Test-Jurisdiction` header; the server
  answers `Compliance-Test: honoured`, and a case whose token the server did not
  honour fails, whatever the page showed. A case with `ip:` is sent as
  `X-Forwarded-For`, which the server believes only where this runner is one of
  its trusted proxies. Cases run `--jobs` at a time (threads sharing one httpx
  client); in the text format each is printed as soon as it and every case
  before it have finished, so the output keeps the files' order.

End to end, the notices are read from the page: the `data-legal-notice`
attributes (and the aside's `lang`), the header places the rules name, the JSON
fields they name, and a 451. Coverage is the rules the decision core fires in
some case.
"""

from __future__ import annotations

import argparse
import asyncio
import html
import importlib
import json
import os
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from html.parser import HTMLParser
from typing import Any

import httpx

from compliance.cli import COMMANDS, output
from compliance.cli.case_output import case_lines, tail_text  # (importing it registers the test formats)
from compliance.cli.cases import Case, check_notices, load_cases
from compliance.cli.common import load_or_report
from compliance.cli.results import ExitCode, Observed, TestRun
from compliance.cli.verdict import judge
from compliance.errors import ConfigError
from compliance.reader.chosen import TEST_AT_EXTENSION, TEST_EXTENSION
from compliance.reader.jurisdiction import Jurisdiction, given_jurisdiction
from compliance.reader.resolve import JurisdictionResolver
from compliance.reader.token import check_secret, mint, scope_for
from compliance.respond.feed import FEED_TYPES
from compliance.respond.render import render_text
from compliance.rules.decide import Engine
from compliance.rules.model import RuleSet

__all__ = ["SECRET_ENV", "add_parser", "import_app", "observe", "run"]

#: The address an in-process `country:` case comes from (TEST-NET-1: routed nowhere).
TEST_CLIENT = ("192.0.2.10", 50000)
SECRET_ENV = "COMPLIANCE_TEST_SECRET"
#: How long a case's token is honoured: long enough for one request.
TOKEN_TTL = 120.0
#: The response header a server sends when it decided by the token.
HONOURED_HEADER = "compliance-test"
#: How many cases `--url` runs at once unless `--jobs` says otherwise.
DEFAULT_JOBS = 4


def _jobs(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of cases to run at once; give 1 or more")
    return value


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "test",
        help=COMMANDS["test"],
        description="Run the case files: one line a case, the rules no case exercised, and last "
        "'N passed, N failed, N skipped'. Exit 0 when every case passes, 1 when one fails, 2 when the rules or "
        "cases cannot be loaded or the app or server cannot be reached.",
    )
    parser.add_argument("cases", nargs="+", metavar="CASES", help="case files, or folders of them")
    parser.add_argument("--rules", required=True, metavar="PATH", help="a rule file, or a folder of them")
    target = parser.add_mutually_exclusive_group()
    target.add_argument("--app", metavar="MODULE:ATTR", help="run end to end through this ASGI app, in-process")
    target.add_argument("--url", metavar="URL", help="run end to end against this running server")
    parser.add_argument(
        "--secret", metavar="SECRET", help=f"the server's test secret, for --url (default: ${SECRET_ENV})"
    )
    parser.add_argument("--geoip-db", metavar="FILE", help="a MaxMind-format database, for ip: cases (rules only)")
    parser.add_argument(
        "--anonymous-db", metavar="FILE", help="a MaxMind Anonymous-IP database, for ip: cases (rules only)"
    )
    parser.add_argument("--timeout", type=float, default=30.0, metavar="SECONDS", help="per request, for --url")
    parser.add_argument(
        "--jobs",
        type=_jobs,
        default=DEFAULT_JOBS,
        metavar="N",
        help=f"with --url, how many cases run at once (default {DEFAULT_JOBS}); each is printed as soon as it and "
        "every case before it have finished, so the output keeps the order of the case files",
    )
    parser.add_argument("--format", choices=output.formats("test"), default="text", help="output format")
    parser.set_defaults(run=run)


def _fail(message: str) -> int:
    sys.stderr.write(f"compliance test: {message}\n")
    return int(ExitCode.UNUSABLE)


def run(args: argparse.Namespace) -> int:
    ruleset = load_or_report(args.rules)
    if ruleset is None:
        return int(ExitCode.UNUSABLE)
    cases, problems, _ = load_cases(args.cases)
    problems += check_notices(cases, ruleset.notices)
    errors = [p for p in problems if p.severity == "error"]
    if errors:
        sys.stderr.write(output.problems_text(errors))
        return _fail(f"the case files have {output.plural(len(errors), 'error')}; nothing was run.")
    if not cases:
        return _fail("the case files hold no cases.")
    try:
        resolver = JurisdictionResolver(geoip_db=args.geoip_db, anonymous_db=args.anonymous_db)
    except ConfigError as error:
        return _fail(f"{error}.")
    engine = Engine(ruleset)
    now = time.time()
    try:
        if args.app:
            app = _import_app(args.app)
            mode, target = "app", args.app
            observed = asyncio.run(_run_app(app, cases, ruleset))
            unhonoured: set[int] = set()
        elif args.url:
            secret = args.secret if args.secret is not None else os.environ.get(SECRET_ENV)
            if secret is None and any(c.request.country is not None for c in cases):
                return _fail(
                    f"cases that give a country need the server's test secret: pass --secret or set {SECRET_ENV}."
                )
            if secret is not None:
                check_secret(secret, "the test secret")
            mode, target = "url", args.url
            streamed = args.format == "text"

            def show(index: int, seen: Observed | None, honoured: bool) -> None:
                if streamed:
                    result = judge(engine, resolver, [cases[index]], [seen], "url", now, set() if honoured else {0})[0]
                    print("\n".join(case_lines(result)), flush=True)

            observed, unhonoured = _run_url(
                args.url, secret, args.timeout, cases, ruleset, jobs=args.jobs, on_each=show
            )
        else:
            mode, target = "rules", args.rules
            observed = [None] * len(cases)
            unhonoured = set()
    except _Unusable as error:
        return _fail(str(error))
    except ConfigError as error:
        return _fail(f"{error}.")
    results = judge(engine, resolver, cases, observed, mode, now, unhonoured)
    resolver.close()
    run_ = TestRun(mode, target, tuple(results), ruleset.rules)
    if mode == "url" and args.format == "text":
        print(tail_text(run_), end="")  # the cases were printed as they finished
    else:
        print(output.get("test", args.format)(run_), end="")
    return int(run_.exit_code)


def import_app(spec: str) -> Any:
    """The ASGI app `MODULE:ATTR` names; ValueError says why it cannot be used."""
    try:
        return _import_app(spec)
    except _Unusable as error:
        raise ValueError(str(error)) from None


def observe(
    cases: list[Case],
    ruleset: RuleSet,
    *,
    app: Any = None,
    url: str | None = None,
    secret: str | None = None,
    timeout: float = 30.0,
) -> tuple[list[Observed | None], set[int]]:
    """What each case's reader got from `app` (in process) or the server at `url` (None each with neither), and
    the cases whose test token the server did not honour. ValueError says why the app or server cannot be used."""
    try:
        if app is not None:
            return asyncio.run(_run_app(app, cases, ruleset)), set()
        if url is not None:
            if secret is None and any(c.request.country is not None for c in cases):
                raise ValueError(f"cases that give a country need the server's test secret: set {SECRET_ENV}")
            return _run_url(url, secret, timeout, cases, ruleset)
    except _Unusable as error:
        raise ValueError(str(error)) from None
    except ConfigError as error:
        raise ValueError(str(error)) from None
    return [None] * len(cases), set()


class _Unusable(Exception):
    """The app or the server cannot be used (exit 2)."""


# -- end to end ----------------------------------------------------------------------------------


#: Start tags that may stand in a page's head; any other ends it (as `</head>` and `<body>` do).
_IN_HEAD = frozenset({"html", "head", "meta", "link", "script", "style", "title", "base", "noscript", "template"})
#: The elements a notice's `head` adds.
_HEAD_ELEMENTS = frozenset({"meta", "link", "script"})


class _NoticeFinder(HTMLParser):
    """The notices a page shows: a head element (`placement: head`) counts only inside the head."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[tuple[str, str | None]] = []
        self.page_language: str | None = None
        self.head_ended = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "html" and self.page_language is None:
            self.page_language = values.get("lang") or None
        if tag not in _IN_HEAD:
            self.head_ended = True
        notice = values.get("data-legal-notice")
        if notice and not (tag in _HEAD_ELEMENTS and self.head_ended):
            self.found.append((notice, values.get("lang")))

    def handle_endtag(self, tag: str) -> None:
        if tag == "head":
            self.head_ended = True


def _shown_in(notices: dict[str, str | None], notice_id: str, language: str | None) -> None:
    """Notes that a notice is shown in `language`: a notice shown in several reads as `ru, en`, in order."""
    before = notices.get(notice_id)
    if before is None or language is None:
        notices[notice_id] = before or language
    elif language not in before.split(", "):
        notices[notice_id] = f"{before}, {language}"


def _places(ruleset: RuleSet, kind: str) -> set[str]:
    return {place.arg for rule in ruleset.rules for place in rule.placement if place.kind == kind and place.arg}


def read_response(response: httpx.Response, ruleset: RuleSet) -> Observed:
    """The notices a response shows: HTML asides, header places, JSON fields, and its status."""
    notices: dict[str, str | None] = {}
    page_language: str | None = None
    media = response.headers.get("content-type", "").split(";")[0].strip().lower()
    text = response.text if response.content else ""
    if media in ("text/html", "application/xhtml+xml") or (not media and "<" in text):
        finder = _NoticeFinder()
        finder.feed(text)
        finder.close()
        page_language = finder.page_language
        for notice_id, language in finder.found:
            _shown_in(notices, notice_id, language)
    if media in FEED_TYPES and _places(ruleset, "feed"):
        for notice_id, language in _feed_notices(text, media, ruleset):
            _shown_in(notices, notice_id, language)
    for name in _places(ruleset, "header"):
        for value in response.headers.get_list(name):
            for notice_id in value.split(","):
                if notice_id.strip():
                    notices.setdefault(notice_id.strip(), None)
    if media == "application/json" or media.endswith("+json"):
        try:
            document = json.loads(text)
        except ValueError:
            document = None
        if isinstance(document, dict):
            fields = _places(ruleset, "json") | {"notices"}
            for name in fields:
                for entry in document.get(name) or () if isinstance(document.get(name), list) else ():
                    if isinstance(entry, dict) and isinstance(entry.get("id"), str):
                        language = entry.get("language")
                        _shown_in(notices, entry["id"], language if isinstance(language, str) else None)
            block = document.get("notice")
            if isinstance(block, dict) and isinstance(block.get("id"), str):
                language = block.get("language")
                _shown_in(notices, block["id"], language if isinstance(language, str) else None)
    languages = tuple((n, lang) for n, lang in notices.items() if lang is not None)
    return Observed(frozenset(notices), response.status_code, languages, text, tuple(notices), page_language)


def _feed_notices(text: str, media: str, ruleset: RuleSet) -> list[tuple[str, str | None]]:
    """The notices a feed shows: HTML asides in its items (escaped, in CDATA or in a JSON Feed's
    `content_html`), and notices whose text it carries as plain text (a feed's description)."""
    if media.endswith("json"):
        try:
            document = json.loads(text)
        except ValueError:
            return []
        if not isinstance(document, dict):
            return []
        listed = document.get("items")
        items: list[Any] = listed if isinstance(listed, list) else []
        markup = "".join(str(i.get("content_html", "")) for i in items if isinstance(i, dict))
        plain = "\n".join(str(v) for v in (document.get("description"), *items) if v is not None)
    else:
        markup = plain = html.unescape(text.replace("<![CDATA[", "").replace("]]>", ""))
    finder = _NoticeFinder()
    finder.feed(markup)
    finder.close()
    found = list(finder.found)
    seen = {notice_id for notice_id, _ in found}
    for notice in ruleset.notices.values():
        for language in notice.text:
            paragraphs = render_text(notice, language)
            if notice.id not in seen and paragraphs and paragraphs[0] in plain:
                found.append((notice.id, language))
    return found


def _import_app(spec: str) -> Any:
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise _Unusable(f"--app {spec!r} is not MODULE:ATTR, such as examples.app:app.")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except Exception as error:
        raise _Unusable(f"cannot import the module {module_name!r}: {type(error).__name__}: {error}") from None
    app = module
    for part in attr.split("."):
        if not hasattr(app, part):
            raise _Unusable(f"the module {module_name!r} has no {attr!r}.")
        app = getattr(app, part)
    if not callable(app):
        raise _Unusable(f"{spec} is not an ASGI app.")
    return app


class _AsReader:
    """Puts the case's jurisdiction in the scope, where the middleware looks first (TEST_EXTENSION)."""

    def __init__(self, app: Any, jurisdiction: Jurisdiction | None, at: float | None = None) -> None:
        self.app = app
        self.jurisdiction = jurisdiction
        self.at = at

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            extensions = dict(scope.get("extensions") or {})
            if self.jurisdiction is not None:
                extensions[TEST_EXTENSION] = self.jurisdiction
            if self.at is not None:
                extensions[TEST_AT_EXTENSION] = self.at
            scope = {**scope, "extensions": extensions}
        await self.app(scope, receive, send)


def _request_headers(case: Case) -> dict[str, str]:
    headers = dict(case.request.headers)
    if case.request.host:
        headers["Host"] = case.request.host
    return headers


async def _run_app(app: Any, cases: list[Case], ruleset: RuleSet) -> list[Observed | None]:
    async with _lifespan(app):
        found: list[Observed | None] = []
        for case in cases:
            request = case.request
            at = None if request.at is None else request.at.timestamp()
            if request.ip is not None:
                transport = httpx.ASGITransport(app=_AsReader(app, None, at), client=(request.ip, 50000))
            else:
                jurisdiction = _given(case)
                transport = httpx.ASGITransport(app=_AsReader(app, jurisdiction, at), client=TEST_CLIENT)
            async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as client:
                try:
                    response = await client.request(request.method, request.path, headers=_request_headers(case))
                except Exception as error:
                    raise _Unusable(
                        f'the app failed on the case "{case.name}" ({case.location}): {type(error).__name__}: {error}'
                    ) from None
            found.append(read_response(response, ruleset))
        return found


def _given(case: Case) -> Jurisdiction:
    return given_jurisdiction(case.request.country, case.request.subdivision, case.request.anonymity)


class _lifespan:
    """Runs the app's lifespan startup before the cases and its shutdown after, where it has one."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.task: asyncio.Task[None] | None = None
        self.inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    async def __aenter__(self) -> None:
        scope = {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"}, "state": {}}
        self.task = asyncio.create_task(self.app(scope, self.inbox.get, self.outbox.put))
        await self.inbox.put({"type": "lifespan.startup"})
        message = await self._answer()
        if message is None:
            self.task = None  # no lifespan support: fine
        elif message["type"] == "lifespan.startup.failed":
            raise _Unusable(f"the app failed to start: {message.get('message', '')}")

    async def _answer(self) -> dict[str, Any] | None:
        assert self.task is not None
        getter = asyncio.ensure_future(self.outbox.get())
        done, _ = await asyncio.wait({getter, self.task}, timeout=30, return_when=asyncio.FIRST_COMPLETED)
        if getter in done:
            return getter.result()
        getter.cancel()
        if self.task in done:
            self.task.exception()  # retrieved: an app without lifespan support raises here
        return None

    async def __aexit__(self, *exc_info: object) -> None:
        if self.task is None:
            return
        await self.inbox.put({"type": "lifespan.shutdown"})
        await self._answer()
        if not self.task.done():
            self.task.cancel()


def _run_url(
    url: str,
    secret: str | None,
    timeout: float,
    cases: list[Case],
    ruleset: RuleSet,
    *,
    jobs: int = 1,
    on_each: Callable[[int, Observed | None, bool], None] | None = None,
) -> tuple[list[Observed | None], set[int]]:
    """What each case's response showed, and the cases whose token the server did not honour.

    `jobs` cases run at once; `on_each(index, seen, honoured)` is called in case order, as soon as it can be.
    """
    found: list[Observed | None] = []
    unhonoured = set()
    with httpx.Client(base_url=url, timeout=timeout, follow_redirects=False) as client:
        pool = ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="compliance-test")
        try:
            futures = [pool.submit(_fetch, client, url, secret, timeout, case, ruleset) for case in cases]
            for index, future in enumerate(futures):
                seen, honoured = future.result()
                found.append(seen)
                if not honoured:
                    unhonoured.add(index)
                if on_each is not None:
                    on_each(index, seen, honoured)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
    return found, unhonoured


def _fetch(
    client: httpx.Client, url: str, secret: str | None, timeout: float, case: Case, ruleset: RuleSet
) -> tuple[Observed, bool]:
    """One case's response, read; and False where it carried a token the server did not honour."""
    request = case.request
    headers = _request_headers(case)
    if request.ip is not None:
        headers["X-Forwarded-For"] = request.ip
    else:
        assert secret is not None
        given = given_jurisdiction(request.country, request.subdivision, request.anonymity)
        headers["Compliance-Test-Jurisdiction"] = mint(
            secret,
            "test",
            given.country,
            given.subdivision,
            anonymous=given.anonymous,
            kinds=given.kinds,
            scope=scope_for(request.route),
            ttl=TOKEN_TTL + timeout,
            at=None if request.at is None else request.at.timestamp(),
        )
    try:
        response = client.request(request.method, request.path, headers=headers)
    except httpx.HTTPError as error:
        raise _Unusable(f"cannot reach {url}: {error or type(error).__name__}.") from None
    honoured = request.ip is not None or response.headers.get(HONOURED_HEADER) == "honoured"
    return read_response(response, ruleset), honoured
