"""The middleware wraps other frameworks' apps in one line, end to end over uvicorn."""

from __future__ import annotations

import importlib

import httpx
import pytest

from tests.conftest import RU_IP, US_IP
from tests.server import serve


@pytest.mark.parametrize("module", ["examples.frameworks.fastapi_app", "examples.frameworks.django_app"])
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
