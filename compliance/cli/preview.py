"""`compliance preview --as RU [--subdivision UA-43] --url URL [--ttl 1h]`: a page as a reader there gets it.

The link is the page's URL with a short-lived preview token in its query string
(`?compliance-preview=...`), signed with the server's `test_secret` (`--secret`,
or COMPLIANCE_TEST_SECRET) and good for that path only. Opened in an ordinary
browser, the server decides for the jurisdiction the token names, strips the
token before the app sees the request, answers `private, no-store`, and audits
the response as a `preview` event. Nobody without the secret can make one.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from urllib.parse import urlsplit, urlunsplit

from compliance.cli import COMMANDS
from compliance.cli.common import moment
from compliance.cli.results import ExitCode
from compliance.errors import ConfigError
from compliance.reader.jurisdiction import normalise_country, normalise_subdivision
from compliance.reader.token import MAX_TTL, PREVIEW_PARAM, mint, scope_for

__all__ = ["add_parser", "preview_link", "run"]

SECRET_ENV = "COMPLIANCE_TEST_SECRET"
_DURATION = re.compile(r"(\d+)([smhd]?)\Z")
_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "preview",
        help=COMMANDS["preview"],
        description="Print a link that shows a page, in an ordinary browser, as a reader in a jurisdiction gets it. "
        "The server must run with test_secret; the link carries a token signed with it, for that page only, "
        "for a limited time.",
    )
    parser.add_argument(
        "--as", dest="country", required=True, metavar="CC", help="the reader's country (RU), or unknown"
    )
    parser.add_argument("--subdivision", metavar="XX-YY", help="the reader's subdivision, such as UA-43")
    parser.add_argument("--url", required=True, metavar="URL", help="the page, on the staging server")
    parser.add_argument(
        "--ttl", default="1h", metavar="DURATION", help="how long the link works: 30m, 1h, 1d (most 1d)"
    )
    parser.add_argument(
        "--at", type=moment, metavar="MOMENT", help="decide at this moment: a date, or ISO 8601 (UTC unless an offset)"
    )
    parser.add_argument("--secret", metavar="SECRET", help=f"the server's test secret (default: ${SECRET_ENV})")
    parser.set_defaults(run=run)


def preview_link(
    url: str,
    secret: str,
    country: str | None,
    subdivision: str | None = None,
    ttl: float = 3600.0,
    at: float | None = None,
) -> str:
    """`url` with a preview token for `country` (None: unknown) in its query string."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"--url {url!r} is not a web address such as https://staging.example.org/news/story")
    path = parts.path or "/"
    token = mint(secret, "preview", country, subdivision, scope=scope_for(path), ttl=ttl, at=at)
    query = f"{parts.query}&{PREVIEW_PARAM}={token}" if parts.query else f"{PREVIEW_PARAM}={token}"
    return urlunsplit((parts.scheme, parts.netloc, path, query, parts.fragment))


def _fail(message: str) -> int:
    sys.stderr.write(f"compliance preview: {message}\n")
    return int(ExitCode.UNUSABLE)


def run(args: argparse.Namespace) -> int:
    secret = args.secret if args.secret is not None else os.environ.get(SECRET_ENV)
    if secret is None:
        return _fail(f"a preview link is signed with the server's test secret: pass --secret or set {SECRET_ENV}.")
    match = _DURATION.match(args.ttl.strip())
    if match is None:
        return _fail(f"--ttl {args.ttl!r} is not a duration such as 30m, 1h or 1d.")
    ttl = int(match.group(1)) * _SECONDS[match.group(2)]
    if not 0 < ttl <= MAX_TTL:
        return _fail(f"--ttl {args.ttl!r}: a link works for at most a day; mint another when it runs out.")
    country: str | None = None
    if args.country.strip().lower() != "unknown":
        country = normalise_country(args.country)
        if country is None or country == "T1":
            return _fail(f"--as {args.country!r} is not a country code such as RU, or unknown.")
    subdivision = None
    if args.subdivision:
        given = args.subdivision.strip().upper()
        subdivision = normalise_subdivision(given.split("-", 1)[0], given) if "-" in given else None
        if subdivision is None:
            return _fail(f"--subdivision {args.subdivision!r} is not an ISO 3166-2 code such as UA-43.")
    at = None if args.at is None else args.at.timestamp()
    try:
        link = preview_link(args.url, secret, country, subdivision, ttl, at)
    except ConfigError as error:
        return _fail(f"{error}.")
    print(link)
    return int(ExitCode.OK)
