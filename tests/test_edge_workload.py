"""The workload through real nginx and Varnish: 20,000 requests, 1,000 URLs, 22 jurisdictions, no leak."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.edge_workload import KINDS, engine_for, run, through, write_rules

#: Real nginx and Varnish from the system: on the main Python only (see scripts/other_pythons.py).
pytestmark = pytest.mark.real


@pytest.mark.parametrize("cache", ["nginx", "varnish"])
def test_no_reader_is_ever_served_another_class_copy_and_the_cache_still_hits(cache: str, tmp_path: Path) -> None:
    rules = write_rules(tmp_path / "rules")
    with through(cache, tmp_path, rules, KINDS, "class") as url:
        result = run(url, engine_for(rules))
    assert result.leaks == 0, result.examples
    # 1,000 Zipf-popular URLs, a handful of classes each: most requests are served from the cache.
    assert result.hit_ratio > 0.5, result


@pytest.mark.parametrize("cache", ["nginx", "varnish"])
def test_without_the_class_vary_on_the_cdn_country_header_never_leaks_either(cache: str, tmp_path: Path) -> None:
    rules = write_rules(tmp_path / "rules")
    with through(cache, tmp_path, rules, KINDS, "vary-country") as url:
        result = run(url, engine_for(rules), requests=2000)
    assert result.leaks == 0, result.examples
