"""A Django project's ASGI handler wrapped in one line (see the last line).

A single-file Django set-up, so that the example needs no project scaffolding;
in a real project the last line goes into `asgi.py` after `get_asgi_application()`.
"""

from __future__ import annotations

from pathlib import Path

import django
from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import path

from compliance import ComplianceMiddleware

RULES = Path(__file__).resolve().parent.parent.parent / "rules"

if not settings.configured:
    settings.configure(
        DEBUG=False,
        SECRET_KEY="example-only-not-secret",
        ROOT_URLCONF=__name__,
        ALLOWED_HOSTS=["*"],
        MIDDLEWARE=[],
        INSTALLED_APPS=[],
    )
    django.setup()


def article(request: HttpRequest, slug: str) -> HttpResponse:
    return HttpResponse(
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>Story</title></head>"
        "<body><article><h1>A story from the Django edition</h1><p>Text.</p>"
        "<!-- legal-notice --></article></body></html>",
        content_type="text/html; charset=utf-8",
    )


def articles(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"articles": ["river-port-reopens"]})


urlpatterns = [path("news/<slug:slug>", article), path("api/articles", articles)]

from django.core.asgi import get_asgi_application  # noqa: E402  (after settings, as Django requires)

app = ComplianceMiddleware(get_asgi_application(), rules=RULES, trusted_proxies=["127.0.0.1"])
