"""Jurisdiction codes and the built-in groups @EU and @EEA.

A rule names jurisdictions as

* an ISO 3166-1 alpha-2 country code in upper case (`RU`; `XK` for Kosovo too),
* an ISO 3166-2 subdivision code (`UA-43`, `US-CA`),
* a keyword: `unknown`, `anonymous`, a kind of anonymity (`tor`, `anonymous-vpn`,
  `public-proxy`, `residential-proxy`, `hosting-provider`) or `*` (every reader),
* a group: `@EU`, `@EEA`, or `@name` for a group of the rule set.

`check_code` tells what is wrong with a code that is none of these, in a sentence
for the people who write rule files.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from datetime import UTC, datetime
from functools import cache
from typing import Final

from compliance.reader.jurisdiction import country_codes, subdivision_codes
from compliance.rules.model import ANONYMITY_KINDS, ANONYMOUS, EVERYONE, UNKNOWN

__all__ = [
    "BUILTIN_GROUPS",
    "BUILTIN_HISTORY",
    "EEA",
    "EEA_HISTORY",
    "EU",
    "EU_HISTORY",
    "KEYWORDS",
    "check_code",
    "is_country",
    "is_subdivision",
]

KEYWORDS: Final = frozenset({UNKNOWN, ANONYMOUS, EVERYONE, *ANONYMITY_KINDS})

#: The 27 member states, plus the territories inside the Union that databases and
#: CDNs report under codes of their own: Åland, French Guiana, Guadeloupe,
#: Martinique, Réunion, Mayotte, Saint Martin.
EU: Final = frozenset(
    {
        "AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GR", "HR", "HU",
        "IE", "IT", "LT", "LU", "LV", "MT", "NL", "PL", "PT", "RO", "SE", "SI", "SK",
        "AX", "GF", "GP", "MQ", "RE", "YT", "MF",
    }
)  # fmt: skip
EEA: Final = EU | {"IS", "LI", "NO"}

#: Built-in groups by name (written "@EU", "@EEA"): today's members.
BUILTIN_GROUPS: Final = {"EU": EU, "EEA": EEA}

_UTC = UTC
_ENLARGEMENT_2004: Final = ("CY", "CZ", "EE", "HU", "LT", "LV", "MT", "PL", "SI", "SK")
#: Membership history since the Union's 1995 enlargement, for decisions at a moment (`explain --at`, `from`):
#: (code, member from, member until), `until` exclusive. A code not listed was a member throughout.
#: The United Kingdom left at 23:00 UTC on 31 January 2020 (the transition period during which EU law
#: kept applying to it is a law's own dates: a rule's `from`/`until`).
EU_HISTORY: Final[tuple[tuple[str, datetime | None, datetime | None], ...]] = (
    ("AT", datetime(1995, 1, 1, tzinfo=_UTC), None),
    ("FI", datetime(1995, 1, 1, tzinfo=_UTC), None),
    ("AX", datetime(1995, 1, 1, tzinfo=_UTC), None),
    ("SE", datetime(1995, 1, 1, tzinfo=_UTC), None),
    *((code, datetime(2004, 5, 1, tzinfo=_UTC), None) for code in _ENLARGEMENT_2004),
    ("BG", datetime(2007, 1, 1, tzinfo=_UTC), None),
    ("RO", datetime(2007, 1, 1, tzinfo=_UTC), None),
    ("HR", datetime(2013, 7, 1, tzinfo=_UTC), None),
    ("YT", datetime(2014, 1, 1, tzinfo=_UTC), None),
    ("GB", None, datetime(2020, 1, 31, 23, tzinfo=_UTC)),
)  # fmt: skip
#: The EEA's own members beyond the Union: Liechtenstein from 1 May 1995; the Agreement applied to Croatia
#: from 12 April 2014 (provisionally).
EEA_HISTORY: Final[tuple[tuple[str, datetime | None, datetime | None], ...]] = (
    *((code, start, until) for code, start, until in EU_HISTORY if code != "HR"),
    ("HR", datetime(2014, 4, 12, tzinfo=_UTC), None),
    ("LI", datetime(1995, 5, 1, tzinfo=_UTC), None),
)
#: Built-in groups by name with their history: (members throughout, dated members).
BUILTIN_HISTORY: Final = {
    "EU": (EU - {code for code, _, _ in EU_HISTORY}, EU_HISTORY),
    "EEA": (EEA - {code for code, _, _ in EEA_HISTORY}, EEA_HISTORY),
}

# Codes people write that ISO 3166 spells otherwise.
_COMMON_MISTAKES: Final = {
    "UK": 'the United Kingdom is "GB" in ISO 3166',
    "EL": 'Greece is "GR" in ISO 3166',
    "EU": 'the European Union is the group "@EU"',
    "EEA": 'the European Economic Area is the group "@EEA"',
    "RU-CR": 'ISO 3166 lists Crimea under Ukraine: Crimea is "UA-43", Sevastopol "UA-40"',
    "RU-SE": 'ISO 3166 lists Sevastopol under Ukraine: Sevastopol is "UA-40", Crimea "UA-43"',
    "T1": 'a CDN\'s "T1" means a Tor exit: such readers are "tor" (and "anonymous") in rules',
    "XX": 'a CDN\'s "XX" means it does not know the country: such readers are "unknown" in rules',
    "ZZ": '"ZZ" means the country is not known: such readers are "unknown" in rules',
}


@cache
def _alpha3() -> dict[str, str]:
    import pycountry  # (only for messages: its import costs a worker about 25 ms)

    return {country.alpha_3: country.alpha_2 for country in pycountry.countries} | {"XKX": "XK"}


def is_country(code: str) -> bool:
    """An ISO 3166-1 alpha-2 code as rules write it (upper case), or XK."""
    return code in country_codes()


def is_subdivision(code: str) -> bool:
    """An ISO 3166-2 subdivision code as rules write it (upper case)."""
    return code in subdivision_codes()


def _country_name(code: str) -> str:
    if code == "XK":
        return "Kosovo"
    import pycountry

    country = pycountry.countries.get(alpha_2=code)
    name = getattr(country, "common_name", None) or getattr(country, "name", code)
    return str(name)


def check_code(code: str, groups: Iterable[str] = ()) -> str | None:
    """None for a valid code or keyword (not a group), else a sentence saying what is wrong.

    `groups` are the names of the rule set's own groups, for hints such as
    'did you mean "@sanctioned"?'. Group references ("@...") are not checked here.
    """
    if code in KEYWORDS or is_country(code) or is_subdivision(code):
        return None
    group_names = set(groups)
    written = f'"{code}"'
    if code.strip() != code:
        return f'{written} has spaces around it; write the code alone, such as "RU".'
    if not code:
        return 'An empty jurisdiction; write a code such as "RU", or a group such as "@EU".'
    if code.lower() in KEYWORDS:
        return f'{written}: keywords are written in lower case: "{code.lower()}".'
    if code.lower() in ("vpn", "proxy", "tor-exit", "hosting"):
        kind = {"vpn": "anonymous-vpn", "proxy": "public-proxy", "tor-exit": "tor", "hosting": "hosting-provider"}
        return f'{written} is not a jurisdiction; the kind of anonymity is written "{kind[code.lower()]}".'
    upper = code.upper()
    if upper != code and (is_country(upper) or is_subdivision(upper)):
        return f'{written} is written in lower case; codes are written in upper case: did you mean "{upper}"?'
    if upper in _COMMON_MISTAKES:
        return f"{written} is not an ISO 3166 country code; {_COMMON_MISTAKES[upper]}."
    dashed = f"{upper[:2]}-{upper[2:]}"
    if len(upper) > 2 and "-" not in upper and is_subdivision(dashed):
        return f'{written} is not an ISO 3166 code; subdivision codes have a dash: did you mean "{dashed}"?'
    if upper.startswith("RU-") and upper in ("RU-KRYM", "RU-CRIMEA", "RU-KR-CR"):
        return f"{written} is not an ISO 3166 code; {_COMMON_MISTAKES['RU-CR']}."
    if code.lower() in group_names:
        return (
            f'{written} is not an ISO 3166 country or subdivision code; did you mean the group "@{code.lower()}"? '
            'Groups are written "@name".'
        )
    if len(upper) == 3 and upper in _alpha3():
        alpha2 = _alpha3()[upper]
        return (
            f"{written} is a three-letter code; rule files use the two-letter ISO 3166-1 code: "
            f'"{alpha2}" ({_country_name(alpha2)}).'
        )
    if "-" in upper:
        country, _, _ = upper.partition("-")
        if is_country(country):
            examples = sorted(s for s in subdivision_codes() if s.startswith(country + "-"))
            if not examples:
                return (
                    f"{written} is not an ISO 3166-2 subdivision code: {_country_name(country)} ({country}) has "
                    f'no subdivision codes; write "{country}".'
                )
            suffix = upper.partition("-")[2]
            close = difflib.get_close_matches(upper, examples, n=1) if not suffix.isdigit() else []
            hint = f'did you mean "{close[0]}"?' if close else f'codes there look like "{examples[0]}"'
            return (
                f"{written} is not an ISO 3166-2 subdivision code of {_country_name(country)} ({country}); {hint}"
                + ("" if hint.endswith("?") else ".")
            )
    if len(code) == 2 and code.isalpha() and code != upper:
        return (
            f'{written} is not an ISO 3166 country code: codes are two upper-case letters, such as "RU"; a group '
            'is written "@name".'
        )
    if len(code) > 3:
        import pycountry

        try:
            found = pycountry.countries.search_fuzzy(code)
        except LookupError:
            found = []
        if found:
            alpha2 = str(found[0].alpha_2)
            return f'{written} is not a code; countries are written as ISO 3166 codes: did you mean "{alpha2}" ' + (
                f"({_country_name(alpha2)})?"
            )
    return (
        f'{written} is not an ISO 3166 country or subdivision code; did you mean a group? Groups are written "@name".'
    )
