"""The middleware wraps other frameworks' apps in one line, end to end over uvicorn."""

from __future__ import annotations

import gc
import importlib
import shutil
import threading
from pathlib import Path
from typing import Any

import httpx
import prometheus_client
import pytest

from compliance import ComplianceMiddleware
from tests.conftest import RU_IP, US_IP
from tests.server import serve

RULES = Path(__file__).resolve().parent.parent / "rules"


FRAMEWORKS = ["starlette", "fastapi", "django", "litestar", "quart"]


@pytest.mark.parametrize("module", [f"examples.frameworks.{name}_app" for name in FRAMEWORKS])
def test_framework_app_shows_the_warning_to_a_reader_in_russia_only(module: str) -> None:
    app = importlib.import_module(module).app
    with serve(app) as url, httpx.Client() as client:
        ru = client.get(f"{url}/news/river-port-reopens", headers={"X-Forwarded-For": RU_IP})
        us = client.get(f"{url}/news/river-port-reopens", headers={"X-Forwarded-For": US_IP})
        api = client.get(f"{url}/api/articles", headers={"X-Forwarded-For": RU_IP})
    assert ru.status_code == 200
    assert ru.text.count('data-legal-notice="undesirable-organization"') == 1
    assert "<!-- legal-notice -->" not in ru.text
    assert int(ru.headers["content-length"]) == len(ru.content)
    assert "data-legal-notice" not in us.text
    assert "private" in us.headers["cache-control"]
    assert api.json() == {"articles": ["river-port-reopens"]}  # excluded by the rules: untouched


def test_litestar_builds_many_middlewares_that_share_one_rule_set_watcher_and_metrics(tmp_path: Path) -> None:
    from litestar import Litestar, MediaType, get
    from litestar.middleware import DefineMiddleware

    rules = tmp_path / "rules"
    shutil.copytree(RULES, rules)
    page = "<html><body><article><p>Text.</p><!-- legal-notice --></article></body></html>"

    def route(n: int) -> Any:
        @get(f"/news/story-{n}", media_type=MediaType.HTML, name=f"story-{n}")
        async def story() -> str:
            return page

        return story

    def watchers() -> int:
        return sum(t.name == "compliance rules watcher" and t.is_alive() for t in threading.enumerate())

    gc.collect()
    before = watchers()
    app = Litestar(
        route_handlers=[route(n) for n in range(30)],
        middleware=[DefineMiddleware(ComplianceMiddleware, rules=rules, trusted_proxies=["127.0.0.1"])],
    )
    with serve(app) as url, httpx.Client() as client:
        shown = [
            client.get(f"{url}/news/story-{n}", headers={"X-Forwarded-For": RU_IP}).text.count(
                'data-legal-notice="undesirable-organization"'
            )
            for n in range(30)
        ]
        instances = [m for m in gc.get_objects() if isinstance(m, ComplianceMiddleware) and m.rules.location == rules]
        assert len(instances) >= 30  # Litestar really built one per route handler
        assert len({id(m.rules) for m in instances}) == 1
        assert len({id(m.rules.engine) for m in instances}) == 1
        assert watchers() - before <= 1
        assert instances[0].rules.watching
        exposition = prometheus_client.generate_latest().decode()
    assert shown == [1] * 30
    assert (
        sum(f'source="{rules}"' in line for line in exposition.splitlines() if line.startswith("compliance_rules_info"))
        == 1
    )
    lines = [line for line in exposition.splitlines() if line and not line.startswith("#")]
    assert len(lines) == len({line.rsplit(" ", 1)[0] for line in lines})  # no series repeated
