"""Random rule sets for the property tests: the index and the lint checks against plain scans."""

from __future__ import annotations

from hypothesis import strategies as st

from compliance.rules import RuleSet, load_rules_text

PATHS = [
    "/**",
    "/news/**",
    "/news",
    "/news/",
    "/news/*",
    "/news/a",
    "/news/a/",
    "/news/*/amp",
    "/*/amp",
    "/**/amp",
    "/news/**/amp",
    "/news/*.html",
    "/sport/**",
    "/sport/a-*-b",
    "/",
    "/*",
    "/*/",
    "/news/*/",
    "/*/*/amp",
    "/news/*/**",
    "/*.html",
    "/news/a*",
    "/*/print/",
    "re:/news/[0-9]+",
    "re:/(news|sport)/.*",
    "re:.*amp",
]
HOSTS = ["www.example.org", "*.example.org", "example.org", "other.example"]
JURISDICTIONS = ["RU", "BY", "UA-43", "UA", "DE", "FR", "@EU", "*", "unknown", "anonymous", "tor"]
DATES = ["2020-01-01", "2024-06-01", "2025-01-01", "2030-01-01"]


@st.composite
def rule_texts(draw: st.DrawFn, index: int) -> str:
    lines = [
        f"  - id: rule-{index}",
        f"    notice: n{draw(st.integers(0, 2))}",
        f"    jurisdictions: {_list(draw(st.lists(st.sampled_from(JURISDICTIONS), min_size=1, max_size=3)))}",
    ]
    if draw(st.booleans()):
        lines.append(f"    paths: {_list(draw(st.lists(st.sampled_from(PATHS), min_size=1, max_size=3)))}")
    if draw(st.integers(0, 3)) == 0:
        lines.append(f"    except_paths: {_list(draw(st.lists(st.sampled_from(PATHS), min_size=1, max_size=2)))}")
    if draw(st.integers(0, 3)) == 0:
        excepted = draw(st.lists(st.sampled_from(["RU", "UA-43", "DE"]), min_size=1, max_size=2))
        lines.append(f"    except_jurisdictions: {_list(excepted)}")
    if draw(st.integers(0, 2)) == 0:
        lines.append(f"    hosts: {_list(draw(st.lists(st.sampled_from(HOSTS), min_size=1, max_size=2)))}")
    if draw(st.integers(0, 3)) == 0:
        lines.append(f"    from: {draw(st.sampled_from(DATES[:2]))}")
    if draw(st.integers(0, 3)) == 0:
        lines.append(f"    until: {draw(st.sampled_from(DATES[2:]))}")
    if draw(st.integers(0, 3)) == 0:
        lines.append("    action: block")
    if draw(st.integers(0, 3)) == 0:
        lines.append("    mode: report-only")
    if draw(st.booleans()):
        lines.append(f"    priority: {draw(st.integers(0, 3))}")
    return "\n".join(lines)


def _list(items: list[str]) -> str:
    return "[" + ", ".join(f'"{item}"' for item in items) + "]"


NOTICES = "\n".join(f"  n{n}:\n    title: Notice {n}\n    text: {{en: Text {n}.}}" for n in range(3))


@st.composite
def rule_sets(draw: st.DrawFn, max_rules: int = 12) -> RuleSet:
    count = draw(st.integers(1, max_rules))
    rules = [draw(rule_texts(n)) for n in range(count)]
    policy = draw(st.sampled_from(["", "policy:\n  blocks: spare-unknown-and-anonymous\n"]))
    text = policy + "notices:\n" + NOTICES + "\nrules:\n" + "\n".join(rules) + "\n"
    return load_rules_text(text, "random.yaml")
