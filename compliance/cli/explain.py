"""`compliance explain`: which rules fire for one reader on one page, and why the others do not.

The reader is given (`--country`, `--subdivision`) or found from an address
(`--ip`) by the same resolver the middleware uses, with `--geoip-db` where a
database is at hand. The decision is `Engine.explain`, the middleware's own.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime

from compliance.cli import COMMANDS, output
from compliance.cli.common import load_or_report, moment
from compliance.cli.results import ExitCode, Explanation, FiringView
from compliance.cli.words import body_kinds, describe_placement, placement_applies
from compliance.errors import ConfigError
from compliance.reader.address import is_public
from compliance.reader.jurisdiction import Jurisdiction, anonymity_kind, given_jurisdiction
from compliance.reader.resolve import JurisdictionResolver
from compliance.respond.languages import languages_label, notice_languages
from compliance.rules.classes import ClassTable
from compliance.rules.decide import Engine
from compliance.rules.groups import check_code, is_country, is_subdivision
from compliance.rules.model import ANONYMOUS, UNKNOWN
from compliance.rules.when import raw_headers

__all__ = ["add_parser", "run"]


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "explain",
        help=COMMANDS["explain"],
        description="Show the reader's jurisdiction as resolved, each rule that fires (with its notice, where it "
        "goes and in which language) and each rule that does not fire, with the reason.",
    )
    parser.add_argument("--rules", required=True, metavar="PATH", help="a rule file, or a folder of them")
    who = parser.add_mutually_exclusive_group(required=True)
    who.add_argument("--country", metavar="CC", help="the reader's country (RU), or unknown, or anonymous")
    who.add_argument("--ip", metavar="IP", help="the reader's address, resolved as the middleware would")
    parser.add_argument("--subdivision", metavar="CC-XX", help="the reader's subdivision (UA-43), with --country")
    parser.add_argument(
        "--anonymous",
        metavar="KIND",
        help="the reader comes through tor, vpn (anonymous-vpn), public-proxy, residential-proxy or hosting-provider; "
        "with --country, the exit's (a Tor reader's country is unknown)",
    )
    parser.add_argument("--geoip-db", metavar="FILE", help="a MaxMind-format database, for --ip")
    parser.add_argument(
        "--anonymous-db", metavar="FILE", help="a MaxMind Anonymous-IP database, for --ip: the kind of anonymity"
    )
    parser.add_argument("--path", required=True, metavar="PATH", help="the page's path, such as /news/some-story")
    parser.add_argument("--host", default="", metavar="HOST", help="the page's host, for rules that name hosts")
    parser.add_argument(
        "--content-type", default="text/html", metavar="TYPE", help="the response's type (default text/html)"
    )
    parser.add_argument("--lang", metavar="TAG", help="the page's language (<html lang> or Content-Language)")
    parser.add_argument("--accept-language", metavar="VALUE", help="what the reader's browser asks for, such as ru")
    parser.add_argument(
        "--header",
        action="append",
        default=[],
        metavar="NAME:VALUE",
        help="a header the reader's browser sends, such as Sec-GPC:1, for rules with when: (repeatable)",
    )
    parser.add_argument(
        "--cookie",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a cookie the request carries, for rules with when: (repeatable)",
    )
    parser.add_argument(
        "--at", type=moment, metavar="WHEN", help="decide at this date or ISO 8601 time (UTC unless given; default now)"
    )
    parser.add_argument("--format", choices=output.formats("explain"), default="text", help="output format")
    parser.set_defaults(run=run)


def _fail(message: str) -> int:
    sys.stderr.write(f"compliance explain: {message}\n")
    return int(ExitCode.UNUSABLE)


def run(args: argparse.Namespace) -> int:
    if not args.path.startswith("/"):
        return _fail(f'--path {args.path!r} is not a path: a path starts with "/".')
    if args.subdivision and not args.country:
        return _fail("--subdivision is given together with --country.")
    if args.geoip_db and not args.ip:
        return _fail("--geoip-db is used to find the country of --ip.")
    if args.anonymous_db and not args.ip:
        return _fail("--anonymous-db is used to find whether --ip is anonymous.")
    if args.anonymous is not None and args.ip:
        return _fail("--anonymous states the reader with --country; --ip is resolved as the middleware would.")
    if args.country is not None:
        given = _given(args.country, args.subdivision, args.anonymous)
        if isinstance(given, str):
            return _fail(given)
        jurisdiction, found = given, "given with --country" + (" and --subdivision" if args.subdivision else "")
        if args.anonymous is not None:
            found += " and --anonymous"
    else:
        try:
            with JurisdictionResolver(geoip_db=args.geoip_db, anonymous_db=args.anonymous_db) as resolver:
                jurisdiction = resolver.resolve_ip(args.ip)
                built = resolver.geoip_built
        except ConfigError as error:
            return _fail(f"{error}.")
        found = _found(args.ip, jurisdiction, args.geoip_db)
        if built is not None:
            found += f" (the database was built on {built})"
    request = _request_headers(args.header, args.cookie, args.accept_language)
    if isinstance(request, str):
        return _fail(request)
    ruleset = load_or_report(args.rules)
    if ruleset is None:
        return int(ExitCode.UNUSABLE)
    at: datetime = args.at or datetime.fromtimestamp(time.time(), UTC).replace(microsecond=0)
    engine = Engine(ruleset)
    # As on the site: the query string (and a fragment) is never part of a decision.
    path = args.path.partition("#")[0].partition("?")[0]
    decision = engine.explain(jurisdiction, args.host.lower(), path, at.timestamp(), raw_headers(request))
    media = args.content_type.split(";")[0].strip().lower()
    views: list[FiringView] = []
    kinds = body_kinds(decision.fired)
    if decision.block is not None:
        block = decision.block
        views.append(FiringView(block.rule, block.notice, (), None, None, blocks=True))
    for firing in decision.fired:
        rule, notice = firing.rule, firing.notice
        not_shown = None
        if decision.block is not None:
            not_shown = f'the page is blocked by the rule "{decision.block.rule.id}"'
        elif rule.mode == "report-only":
            not_shown = "the rule is report-only: it is decided and audited, never shown"
        elif rule.action == "block":
            not_shown = "the rule is a block rule"
        else:
            not_shown = placement_applies(rule.placement, media, kinds)
        language = (
            None
            if notice.head
            else languages_label(notice_languages(rule, notice, None, args.lang, args.accept_language))
        )
        views.append(
            FiringView(
                rule,
                notice,
                describe_placement(rule.placement, rule.fallback, rule.match, rule.action),
                language,
                not_shown,
            )
        )
    explanation = Explanation(
        jurisdiction=jurisdiction,
        found=found,
        host=args.host.lower(),
        path=args.path,
        at=at,
        content_type=args.content_type,
        page_language=args.lang,
        accept_language=args.accept_language,
        decision=decision,
        firing=tuple(views),
        request_headers=tuple((name, value) for name, value in request if name != "Accept-Language"),
    )
    text = output.get("explain", args.format)(explanation)
    print(text, end="")
    if args.format == "text":
        print(_class_line(engine, jurisdiction, at.timestamp()))
        if decision.vary:
            print(
                f"Cache: a rule with when: applies here, so the response varies by {', '.join(decision.vary)} "
                "and is private (for this reader's own cache), whatever the class."
            )
    return int(explanation.exit_code)


def _request_headers(
    headers: list[str], cookies: list[str], accept_language: str | None
) -> list[tuple[str, str]] | str:
    """The request's headers as given on the command line, or why one cannot be read."""
    found: list[tuple[str, str]] = []
    if accept_language is not None:
        found.append(("Accept-Language", accept_language))
    for given in headers:
        name, colon, value = given.partition(":")
        name = name.strip()
        if not colon or not name or any(c in name for c in ' \t()<>@,;="/[]?{}'):
            return f"--header {given!r} is not NAME:VALUE, such as --header Sec-GPC:1."
        if name.lower() == "cookie":
            return "a cookie is given with --cookie NAME=VALUE."
        if name.lower() == "accept-language":
            return "the reader's languages are given with --accept-language."
        found.append((name, value.strip()))
    pairs = []
    for given in cookies:
        name, equals, value = given.partition("=")
        if not equals or not name.strip() or ";" in given:
            return f"--cookie {given!r} is not NAME=VALUE, such as --cookie consent=yes."
        pairs.append(f"{name.strip()}={value.strip()}")
    if pairs:
        found.append(("Cookie", "; ".join(pairs)))
    return found


def _class_line(engine: Engine, jurisdiction: Jurisdiction, now: float) -> str:
    """The reader's jurisdiction class: what an edge keys its cache on (see `compliance edge`)."""
    classes = ClassTable(engine).at(now)
    found = classes.class_of(jurisdiction)
    if found is None:
        return "Class: none an edge can send (this reader falls back to a private response)."
    others = len(found.members)
    return (
        f"Class: {found.name} (map version {classes.version}), shared with {others} reader kinds; "
        f"the edge sends {classes.header_value(found.name)}."
    )


def _given(country: str, subdivision: str | None, anonymous: str | None = None) -> Jurisdiction | str:
    kind = None
    if anonymous is not None:
        kind = anonymity_kind(anonymous)
        if kind is None:
            return (
                f"--anonymous {anonymous!r} is not a kind of anonymity; write tor, vpn (anonymous-vpn), "
                "public-proxy, residential-proxy or hosting-provider."
            )
        if kind == "tor" and country != UNKNOWN:
            return "a Tor reader's country is unknown (the address is the exit's): write --country unknown."
    if country in (UNKNOWN, ANONYMOUS):
        if subdivision:
            return "--subdivision needs a country, not unknown or anonymous."
        return given_jurisdiction(country, None, kind)
    if not is_country(country):
        return check_code(country) or f"{country!r} is not a country code."
    if subdivision is not None:
        if not is_subdivision(subdivision):
            return check_code(subdivision) or f"{subdivision!r} is not a subdivision code."
        if not subdivision.startswith(country + "-"):
            return f"the subdivision {subdivision} is not in {country}."
    return given_jurisdiction(country, subdivision, kind)


def _found(ip: str, jurisdiction: Jurisdiction, geoip_db: str | None) -> str:
    if jurisdiction.source == "geoip":
        return f"found for {ip} in the GeoIP database {geoip_db}"
    if jurisdiction.source == "embedded":
        return f"found for {ip} in the embedded registry table (iptocc)"
    if not is_public(ip):
        return f"{ip} is a private, loopback or reserved address (or not an address), which no source can place"
    return f"no source knows where {ip} is"
