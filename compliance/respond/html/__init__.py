"""Streaming insertion of notice markup into an HTML page.

`HtmlRewriter` takes the body in the chunks the app sends and returns what to
send on, holding back only what a decision still depends on. The output never
depends on how the body was split, a page with nothing to insert leaves byte for
byte, and every input byte leaves in order (except a marker comment, which its
notices replace).

The rewriter is split by concern:

- `tokenizer`: byte-level scanning as the HTML tokenizer reads a page (comments,
  raw-text elements, tags, the forward scanner's regexes); what it knowingly does
  not understand.
- `anchors`: the places (`Insertion`, `Placed`, body-start, body-end, markers,
  selector places), their order at one byte, and how `</body>` is judged from the
  end.
- `search`: a response's state, what is still wanted, and where notices go.
- `scanner`: the forward scanner, which reports tags to the selector matchers
  (`compliance.respond.matcher`).
- `rewriter`: `HtmlRewriter`, the streaming splice: feeding, holding back, sending on.
"""

from __future__ import annotations

from compliance.respond.html.anchors import Insertion, Placed
from compliance.respond.html.rewriter import DEFAULT_HOLDBACK, HtmlRewriter
from compliance.respond.html.scanner import MAX_MARKER_COMMENT
from compliance.respond.html.search import FALLBACK_WINDOW
from compliance.respond.html.tokenizer import MAX_BODY_TAG, MAX_TAG

__all__ = [
    "DEFAULT_HOLDBACK",
    "FALLBACK_WINDOW",
    "MAX_BODY_TAG",
    "MAX_MARKER_COMMENT",
    "MAX_TAG",
    "HtmlRewriter",
    "Insertion",
    "Placed",
]
