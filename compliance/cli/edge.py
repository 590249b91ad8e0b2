"""`compliance edge`: what a shared cache in front of the app needs to keep one copy per jurisdiction class.

From the rule files it writes, into a folder:

- `classes.json`: the class map in its canonical form (every country, named
  subdivision, `unknown` and `anonymous` to a class; the default; the version;
  the period it holds for);
- `nginx-http.conf` (in `http {}`) and `nginx-location.conf` (in the proxied
  `location`): a `map` from `ngx_http_geoip2_module`'s country and subdivision (or
  from a CDN's headers) to the class header's value, the cache key, the class
  header sent upstream (overwriting whatever the client sent), and the bypass for
  requests carrying a test token;
- `compliance.vcl` (for Varnish, included after `vcl 4.1;`): sets the class header
  from a geo header in `vcl_recv` and adds it to `vcl_hash`.

Every value written into a configuration comes from the rule set; each is checked
against a strict pattern before it is written, so a rule file cannot inject
configuration.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

from compliance.cli.common import load_or_report, moment
from compliance.cli.results import ExitCode
from compliance.reader.chosen import TEST_HEADER
from compliance.reader.token import PREVIEW_PARAM
from compliance.rules.classes import DEFAULT_CLASS_HEADER, ClassMap, ClassTable
from compliance.rules.decide import Engine
from compliance.rules.model import ANONYMOUS, UNKNOWN

__all__ = ["add_parser", "nginx_http", "nginx_location", "run", "varnish_vcl"]

_HEADER_NAME: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,63}")
_MEMBER: Final = re.compile(r"[A-Z0-9]{2}(-[A-Z0-9]{1,3})?")
_VALUE: Final = re.compile(r"[a-z0-9]{1,16};v=[0-9a-f]{12}")
_PATH_UNSAFE: Final = re.compile(r'["\\\s;{}$]')
#: A CDN's value for a Tor exit (Cloudflare's `T1`), read as `anonymous`.
TOR_VALUE: Final = "T1"


class EdgeConfigError(ValueError):
    """A value that cannot be written into a configuration safely."""


def _header(name: str) -> str:
    if not _HEADER_NAME.fullmatch(name):
        raise EdgeConfigError(f"{name!r} is not a header name this command writes into a configuration")
    return name


def _variable(header: str) -> str:
    """nginx's variable for a request header: `CF-IPCountry` is `$http_cf_ipcountry`."""
    return "$http_" + _header(header).lower().replace("-", "_")


def _checked(classes: ClassMap) -> dict[str, str]:
    """Every member -> the header value for its class, each checked before it goes into a configuration."""
    values: dict[str, str] = {}
    for member, name in classes.members.items():
        value = classes.header_value(name)
        if not _VALUE.fullmatch(value) or not (member in (UNKNOWN, ANONYMOUS) or _MEMBER.fullmatch(member)):
            raise EdgeConfigError(f"the class map holds {member!r} -> {value!r}, which is not safe to write")
        values[member] = value
    return values


def _period(classes: ClassMap) -> str:
    d = classes.to_json()
    return f"valid from {d['valid_from'] or 'the start'} until {d['valid_until'] or 'the rules change'}"


def _split(values: dict[str, str]) -> tuple[str, dict[str, str], dict[str, str]]:
    default = values[UNKNOWN]
    countries = {m: v for m, v in values.items() if _MEMBER.fullmatch(m) and "-" not in m and v != default}
    regions = {m: v for m, v in values.items() if "-" in m}
    return default, countries, regions


def nginx_http(
    classes: ClassMap,
    *,
    geoip_db: str | None = None,
    country_header: str | None = None,
    region_header: str | None = None,
    header: str = DEFAULT_CLASS_HEADER,
) -> str:
    """The `http {}` part for nginx: where the country comes from, and the maps to the class."""
    _header(header)
    values = _checked(classes)
    default, countries, regions = _split(values)
    lines = [
        f"# compliance edge: jurisdiction classes, map version {classes.version}, {_period(classes)}.",
        "# Generated from the rule files by `compliance edge`; regenerate when they change.",
    ]
    if country_header is not None:
        country = _variable(country_header)
        region = _variable(region_header) if region_header is not None else '""'
        lines.append(f"# The country comes from the CDN header {country_header}; believe it only from the CDN.")
    else:
        if geoip_db is None or _PATH_UNSAFE.search(geoip_db):
            raise EdgeConfigError("nginx needs --geoip-db PATH (a path without quotes, spaces, ';', '{', '}', '$')")
        country, region = "$compliance_geo_country", "$compliance_geo_region"
        lines += [
            "# The country and the most specific subdivision, from ngx_http_geoip2_module",
            "# (load_module modules/ngx_http_geoip2_module.so; in the main context).",
            f'geoip2 "{geoip_db}" {{',
            "    auto_reload 60m;",
            "    $compliance_geo_country country iso_code;",
            "    $compliance_geo_region subdivisions -1 iso_code;",
            "}",
        ]
    lines += ["", f"map {country} $compliance_class_of_country {{", f'    default "{default}";']
    lines += [f'    {m} "{v}";' for m, v in sorted(countries.items())]
    if country_header is not None:
        lines.append(f'    {TOR_VALUE} "{values[ANONYMOUS]}";  # Tor: anonymous')
    lines += ["}", "", f'map "{country}-{region}" $compliance_class {{', "    default $compliance_class_of_country;"]
    lines += [f'    {m} "{v}";' for m, v in sorted(regions.items())]
    lines += [
        "}",
        "",
        "# Requests carrying a test token (a header) or a preview token (the query string) are decided by the",
        "# token: never cached, never served from the cache.",
        f"map $http_{TEST_HEADER.decode().replace('-', '_')} $compliance_bypass {{",
        "    default 1;",
        '    "" 0;',
        "}",
        "map $args $compliance_preview {",
        "    default 0;",
        f'    "~(^|&){PREVIEW_PARAM}=" 1;',
        "}",
        "",
    ]
    return "\n".join(lines)


def nginx_location(classes: ClassMap, *, header: str = DEFAULT_CLASS_HEADER, geoip: bool = True) -> str:
    """The part for the proxied `location`: the cache key, the class sent upstream, the bypass."""
    _header(header)
    lines = [
        f"# compliance edge: map version {classes.version}. Include inside the location that proxies to the app,",
        "# together with your proxy_cache zone.",
        'proxy_cache_key "$scheme$proxy_host$request_uri $compliance_class";',
        "# Always overwrites whatever the client sent in this header.",
        f"proxy_set_header {header} $compliance_class;",
    ]
    if geoip:
        lines += [
            "# What nginx found, for the app's own resolution (overwrites whatever the client sent).",
            "proxy_set_header X-Compliance-Country $compliance_geo_country;",
            "proxy_set_header X-Compliance-Region $compliance_geo_region;",
        ]
    lines += [
        "proxy_cache_bypass $compliance_bypass $compliance_preview;",
        "proxy_no_cache $compliance_bypass $compliance_preview;",
        "",
    ]
    return "\n".join(lines)


def varnish_vcl(
    classes: ClassMap,
    *,
    country_header: str = "X-Geo-Country",
    region_header: str | None = "X-Geo-Region",
    geo_from: tuple[str, ...] = ("127.0.0.1", "::1"),
    header: str = DEFAULT_CLASS_HEADER,
) -> str:
    """VCL for Varnish (included after `vcl 4.1;`): the class header from a geo header, and the hash."""
    for name in (country_header, header, *((region_header,) if region_header else ())):
        _header(name)
    for source in geo_from:
        if not re.fullmatch(r"[0-9A-Fa-f:.]+(/[0-9]{1,3})?", source):
            raise EdgeConfigError(f"{source!r} is not an address or network")
    values = _checked(classes)
    default, countries, regions = _split(values)
    country, region = f"req.http.{country_header}", f"req.http.{region_header}" if region_header else None
    acl = []
    for source in geo_from:
        address, _, bits = source.partition("/")
        acl.append(f'    "{address}"/{bits};' if bits else f'    "{address}";')
    lines = [
        f"# compliance edge: jurisdiction classes, map version {classes.version}, {_period(classes)}.",
        "# Generated from the rule files by `compliance edge`; regenerate when they change.",
        '# Include it right after `vcl 4.1;` and your backend: include "compliance.vcl";',
        "",
        "# Who may send the geo headers (the hop in front of Varnish that sets them).",
        "acl compliance_geo_sources {",
        *acl,
        "}",
        "",
        "sub vcl_recv {",
        "    if (client.ip !~ compliance_geo_sources) {",
        f"        unset {country};",
        *([f"        unset {region};"] if region else []),
        "    }",
        "    # Always overwrites whatever the client sent in the class header.",
        f'    set req.http.{header} = "{default}";',
    ]
    branches = [(f'{country} == "{m}"', v) for m, v in sorted(countries.items())]
    branches.append((f'{country} == "{TOR_VALUE}"', values[ANONYMOUS]))
    for index, (test, value) in enumerate(branches):
        keyword = "if" if index == 0 else "} elsif"
        lines.append(f"    {keyword} ({test}) {{")
        lines.append(f'        set req.http.{header} = "{value}";')
    if branches:
        lines.append("    }")
    if region:
        for member, value in sorted(regions.items()):
            code, part = member.split("-", 1)
            lines.append(f'    if ({country} == "{code}" && {region} == "{part}") {{')
            lines.append(f'        set req.http.{header} = "{value}";')
            lines.append("    }")
    lines += [
        "    # Requests carrying a test token (a header) or a preview token (the query string) are decided",
        "    # by the token: never cached.",
        f'    if (req.http.{TEST_HEADER.decode()} || req.url ~ "[?&]{PREVIEW_PARAM}=") {{',
        "        return (pass);",
        "    }",
        "}",
        "",
        "sub vcl_hash {",
        f"    hash_data(req.http.{header});",
        "}",
        "",
    ]
    return "\n".join(lines)


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "edge",
        help="write the jurisdiction-class map and nginx / Varnish configuration for a shared cache",
        description="Compute the jurisdiction classes of the rules (readers who get the same on every page) and "
        "write classes.json, nginx-http.conf, nginx-location.conf and compliance.vcl into --out.",
    )
    parser.add_argument("--rules", required=True, metavar="PATH", help="a rule file, or a folder of them")
    parser.add_argument("--out", "-o", default="edge", metavar="DIR", help="the folder to write into (default edge)")
    parser.add_argument("--header", default=DEFAULT_CLASS_HEADER, help="the class header (default Compliance-Class)")
    parser.add_argument("--geoip-db", metavar="FILE", help="for nginx: the MaxMind database ngx_http_geoip2 reads")
    parser.add_argument("--country-header", metavar="NAME", help="for nginx: read the country from this CDN header")
    parser.add_argument("--region-header", metavar="NAME", help="for nginx: and the subdivision from this one")
    parser.add_argument("--varnish-country-header", default="X-Geo-Country", metavar="NAME")
    parser.add_argument("--varnish-region-header", default="X-Geo-Region", metavar="NAME")
    parser.add_argument(
        "--varnish-geo-from",
        action="append",
        metavar="CIDR",
        help="who may send Varnish the geo headers (repeatable; default 127.0.0.1 and ::1)",
    )
    parser.add_argument("--at", type=moment, metavar="WHEN", help="the map in force at this date or time (default now)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    ruleset = load_or_report(args.rules)
    if ruleset is None:
        return int(ExitCode.UNUSABLE)
    at: datetime = args.at or datetime.fromtimestamp(time.time(), UTC)
    classes = ClassTable(Engine(ruleset)).at(at.timestamp())
    out = Path(args.out)
    try:
        files = {
            "classes.json": json.dumps(classes.to_json(args.header), indent=2, sort_keys=False) + "\n",
            "compliance.vcl": varnish_vcl(
                classes,
                country_header=args.varnish_country_header,
                region_header=args.varnish_region_header or None,
                geo_from=tuple(args.varnish_geo_from or ("127.0.0.1", "::1")),
                header=args.header,
            ),
            "nginx-location.conf": nginx_location(classes, header=args.header, geoip=args.country_header is None),
        }
        if args.geoip_db is not None or args.country_header is not None:
            files["nginx-http.conf"] = nginx_http(
                classes,
                geoip_db=args.geoip_db,
                country_header=args.country_header,
                region_header=args.region_header,
                header=args.header,
            )
        else:
            del files["nginx-location.conf"]
    except EdgeConfigError as error:
        sys.stderr.write(f"compliance edge: {error}.\n")
        return int(ExitCode.UNUSABLE)
    out.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (out / name).write_text(text, encoding="utf-8")
    names = ", ".join(sorted(files))
    print(f"{len(classes.classes)} classes, map version {classes.version}, {_period(classes)}.")
    print(f"Wrote {names} into {out}.")
    if "nginx-http.conf" not in files:
        print("No nginx configuration: give --geoip-db FILE or --country-header NAME for one.")
    return int(ExitCode.OK)
