"""Body rewriters: each takes a response body as it streams and places notices in it."""

from __future__ import annotations

from .html import HtmlRewriter, Insertion, Placed

__all__ = ["HtmlRewriter", "Insertion", "Placed"]
