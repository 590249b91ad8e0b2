"""What the benchmark serves: a realistic news page, a JSON API body, a streamed page, the rules.

The page is the benchmark's own (fictional text): a head with styles and
scripts, a navigation bar, one `<article>` with its `<h1>` and many paragraphs,
figures and asides, a footer, and scripts right before `</body>`, as a news
site's article template produces. Nothing in it is a marker comment.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Final

__all__ = [
    "CHUNK",
    "COUNTRY_IPS",
    "NOTICE_TEXT",
    "PAGE_SIZE",
    "api_body",
    "news_page",
    "stream_chunks",
    "write_rules",
]

PAGE_SIZE: Final = 100 * 1024
CHUNK: Final = 64 * 1024

#: Public addresses that the embedded table (and the benchmark's City database) place.
COUNTRY_IPS: Final = {"RU": "95.173.136.70", "DE": "194.25.0.60", "US": "8.8.8.8"}

NOTICE_TEXT: Final = (
    "The authorities of this country have declared the Harbour Gazette an undesirable organization. "
    "Sharing or commenting on our reporting may expose you to fines or prosecution."
)

_PARAGRAPHS: Final = (
    "The ferry that links the two halves of the estuary ran for the last time on Friday evening, ending a"
    " service that has carried commuters, schoolchildren and the occasional flock of sheep since 1911.",
    "Passengers lined the rail for the final crossing, many of them holding photographs of the older boats"
    " that worked the route before the current vessel, the Marta Lind, was launched in the seventies.",
    "\u201cMy grandmother met my grandfather on this deck,\u201d said a retired teacher who had travelled"
    " from the capital for the occasion. \u201cA bridge is faster. It is not the same thing at all.\u201d",
    "The regional council decided in the spring to withdraw its subsidy once the new crossing opened,"
    " arguing that the ferry carried fewer than two hundred people a day over the winter months.",
    "Harbour staff said they would be offered jobs at the bridge toll plaza or with the council's road"
    " maintenance teams, though the union representing the deckhands has asked for better terms.",
    "Local businesses on the northern quay fear the loss of foot traffic. The owner of a caf\u00e9 that has"
    " served ferry passengers for three decades said her takings would fall by half overnight.",
    "Historians at the county museum have asked for the ticket office, a small timber building with a"
    " clock tower, to be listed, so that it cannot be demolished when the quay is redeveloped.",
    "The Marta Lind itself has been sold to a heritage trust, which plans to run summer excursions along"
    " the coast once the boat has passed an inspection and had its engines overhauled.",
    "Commuters who drive will save about twenty minutes a day. Those who relied on the ferry as foot"
    " passengers will now need a bus, and the first timetable shows only one service an hour.",
    "A spokesperson for the bridge operator said cyclists and pedestrians would be able to cross free of"
    " charge for the first year, and that the footpath would be lit through the night.",
)

_HEAD: Final = """<!DOCTYPE html>
<html lang="en" class="no-js">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="description" content="The estuary ferry makes its final crossing after more than a century.">
<meta property="og:title" content="Last crossing for the estuary ferry after 113 years">
<meta property="og:type" content="article">
<meta property="og:image" content="https://static.harbour-gazette.example/img/ferry-1200.jpg">
<title>Last crossing for the estuary ferry after 113 years | The Harbour Gazette</title>
<link rel="canonical" href="https://harbour-gazette.example/region/estuary-ferry-last-crossing">
<link rel="preconnect" href="https://static.harbour-gazette.example" crossorigin>
<link rel="stylesheet" href="https://static.harbour-gazette.example/css/main.81c4e2.css">
<link rel="preload" as="font" type="font/woff2" href="/fonts/text-serif.woff2" crossorigin>
<!-- critical CSS, inlined by the build -->
<style>
  :root { --ink: #1b1b1b; --paper: #fffdf8; --accent: #0b4f8a }
  body { margin: 0; color: var(--ink); background: var(--paper); font: 18px/1.6 Georgia, serif }
  .masthead { display: flex; align-items: center; justify-content: space-between; padding: 0 1rem }
  .masthead nav a { color: var(--accent); text-decoration: none; margin: 0 .5rem }
  article h1 { font-size: 2.4rem; line-height: 1.2; margin: 1rem 0 .5rem }
  article figure { margin: 1.5rem 0 } article figcaption { font-size: .85rem; color: #555 }
  @media (max-width: 700px) { .rail { display: none } article h1 { font-size: 1.8rem } }
</style>
<script>document.documentElement.classList.replace("no-js", "js");</script>
<script type="application/ld+json">
{"@context": "https://schema.org", "@type": "NewsArticle",
 "headline": "Last crossing for the estuary ferry after 113 years",
 "datePublished": "2025-10-03T18:20:00Z", "dateModified": "2025-10-03T21:05:00Z",
 "author": [{"@type": "Person", "name": "Nora Vestergaard"}],
 "publisher": {"@type": "Organization", "name": "The Harbour Gazette"}}
</script>
<script>
  window.consentQueue = window.consentQueue || [];
  window.adSlots = {"top": "hg-top-728", "rail": "hg-rail-300", "inline": "hg-inline-1"};
  if (location.hash === "#debug") { console.log("</body> in a script string is not the end of the page"); }
</script>
<script async src="https://metrics.harbour-gazette.example/m.js?site=hg"></script>
</head>
"""

_NAV: Final = """<body class="article-page section-region" data-section="region">
<a class="skip-link" href="#story">Skip to the story</a>
<header class="masthead">
  <a class="logo" href="/"><img src="/img/logo.svg" alt="The Harbour Gazette" width="210" height="44"></a>
  <nav aria-label="Sections">
    <a href="/region">Region</a><a href="/national">National</a><a href="/world">World</a>
    <a href="/business">Business</a><a href="/climate">Climate</a><a href="/culture">Culture</a>
    <a href="/sport">Sport</a><a href="/opinion">Opinion</a><a href="/puzzles">Puzzles</a>
  </nav>
  <form class="search" action="/search" role="search"><input type="search" name="q" aria-label="Search"></form>
</header>
<div class="ad ad-top" data-slot="hg-top-728"><!-- ad slot: top --></div>
<main id="story">
<article class="story" itemscope itemtype="https://schema.org/NewsArticle">
<p class="kicker"><a href="/region/transport">Transport</a></p>
<h1 itemprop="headline">Last crossing for the estuary ferry after 113 years</h1>
<p class="standfirst">Crowds turn out as the Marta Lind makes its final run before the new bridge opens.</p>
<p class="byline">By <a href="/authors/nora-vestergaard">Nora Vestergaard</a>, regional correspondent
  &middot; <time datetime="2025-10-03T18:20:00Z">3 October 2025</time></p>
<figure class="lead"><img src="/img/ferry-1200.jpg" alt="The ferry at the northern quay at dusk" width="1200"
  height="675"><figcaption>The Marta Lind at the northern quay on its last evening.</figcaption></figure>
<div class="story-body" itemprop="articleBody">
"""

_FOOTER: Final = """</div>
<aside class="related"><h2>More on this story</h2><ul>
  <li><a href="/region/bridge-opening-date">Bridge opening date confirmed</a></li>
  <li><a href="/region/ferry-staff-jobs">What happens to the ferry crew</a></li>
  <li><a href="/opinion/ferries-and-bridges">Opinion: a bridge is not a community</a></li>
</ul></aside>
</article>
<aside class="rail"><h2>Most read</h2><ol>
  <li><a href="/region/storm-warning">Storm warning for the weekend</a></li>
  <li><a href="/business/shipyard-orders">Shipyard wins two new orders</a></li>
  <li><a href="/sport/rowing-final">Rowing club takes the national title</a></li>
  <li><a href="/culture/harbour-festival">Harbour festival line-up announced</a></li>
</ol><div class="ad ad-rail" data-slot="hg-rail-300"><!-- ad slot: rail --></div></aside>
</main>
<footer class="site-footer">
  <nav aria-label="About us"><a href="/about">About us</a> &middot; <a href="/contact">Contact</a> &middot;
    <a href="/corrections">Corrections</a> &middot; <a href="/privacy">Privacy</a> &middot;
    <a href="/terms">Terms</a></nav>
  <p>&copy; 2025 The Harbour Gazette. Registered office: 4 Quay Street, Northport.</p>
</footer>
<script src="https://static.harbour-gazette.example/js/main.5d02a7.js" defer></script>
<script>
  window.consentQueue.push(function () { loadAds(window.adSlots); });
  document.querySelectorAll("time").forEach(function (t) { t.title = new Date(t.dateTime).toLocaleString(); });
</script>
<script async src="https://comments.harbour-gazette.example/embed.js" data-thread="estuary-ferry"></script>
</body>
</html>
"""


def _piece(count: int) -> str:
    paragraph = _PARAGRAPHS[count % len(_PARAGRAPHS)]
    if count % 9 == 8:
        return (
            f'<figure class="inline"><img src="/img/ferry-{count}.jpg" alt="" loading="lazy" width="800" '
            f'height="533"><figcaption>{paragraph[:90]}</figcaption></figure>\n'
        )
    if count % 13 == 12:
        return (
            f'<aside class="pullquote"><blockquote>{paragraph[:120]}</blockquote></aside>\n'
            f'<div class="ad ad-inline" data-slot="hg-inline-{count}"><!-- ad slot: inline --></div>\n'
        )
    return f'<p data-p="{count}">{paragraph} <a href="/region/related-{count}">Read more</a>.</p>\n'


def news_page(size: int = PAGE_SIZE) -> bytes:
    """An article page of about `size` bytes (UTF-8)."""
    pieces: list[str] = []
    total = len(_HEAD) + len(_NAV) + len(_FOOTER)
    count = 0
    while total < size:
        piece = _piece(count)
        pieces.append(piece)
        total += len(piece.encode("utf-8"))
        count += 1
    return (_HEAD + _NAV + "".join(pieces) + _FOOTER).encode("utf-8")


def _middle_chunk(size: int) -> bytes:
    """`size` bytes of whole paragraphs: a chunk that may repeat any number of times."""
    out: list[bytes] = []
    total = 0
    count = 0
    while True:
        piece = _piece(count).encode("utf-8")
        if total + len(piece) + 64 > size:
            break
        out.append(piece)
        total += len(piece)
        count += 1
    filler = size - total - len(b"<p></p>\n")
    out.append(b"<p>" + b"." * filler + b"</p>\n")
    chunk = b"".join(out)
    assert len(chunk) == size
    return chunk


def stream_chunks(total: int, chunk: int = CHUNK) -> tuple[bytes, bytes, bytes, int]:
    """The pieces of a page of about `total` bytes streamed in `chunk`-byte messages, generated lazily.

    Returns (first, middle, last, repeats): the page is `first`, then `middle`
    `repeats` times, then `last`; every message but the last is `chunk` bytes.
    """
    head = (_HEAD + _NAV).encode("utf-8")
    first = head + _middle_chunk(chunk - len(head))
    middle = _middle_chunk(chunk)
    last = _FOOTER.encode("utf-8")
    repeats = max(0, (total - len(first) - len(last)) // chunk)
    return first, middle, last, repeats


def iter_stream(first: bytes, middle: bytes, last: bytes, repeats: int) -> Iterator[bytes]:
    yield first
    for _ in range(repeats):
        yield middle
    yield last


def api_body(items: int = 40) -> bytes:
    """A JSON API response: the section front's article list."""
    articles = [
        {
            "id": 81200 + i,
            "url": f"https://harbour-gazette.example/region/story-{81200 + i}",
            "headline": _PARAGRAPHS[i % len(_PARAGRAPHS)][:70],
            "summary": _PARAGRAPHS[(i + 3) % len(_PARAGRAPHS)],
            "published": f"2025-10-{1 + i % 28:02d}T{i % 24:02d}:15:00Z",
            "section": "region",
            "tags": ["transport", "estuary", "council"][: 1 + i % 3],
            "image": {"src": f"/img/story-{i}.jpg", "width": 800, "height": 533},
        }
        for i in range(items)
    ]
    return json.dumps({"section": "region", "page": 1, "articles": articles}, ensure_ascii=False).encode()


RULES_YAML: Final = f"""\
notices:
  bench-notice:
    title: Benchmark notice
    text:
      en: {json.dumps(NOTICE_TEXT)}
    link:
      href: https://harbour-gazette.example/help/notice
      text: {{en: "What this means for you"}}
  bench-notice-css:
    title: Benchmark notice with its own style
    text:
      en: {json.dumps(NOTICE_TEXT)}
    css: ".legal-notice[data-legal-notice=bench-notice-css] {{ border: 2px solid #b00; padding: 1em }}"
rules:
  # /news/: a notice at the end of the body for readers in Russia; readers elsewhere get none.
  - id: bench-body-end
    notice: bench-notice
    jurisdictions: [RU]
    paths: ["/news/**"]
    placement: body-end
  # /world/: right after the article's headline, else the end of the body.
  - id: bench-selector
    notice: bench-notice
    jurisdictions: [RU]
    paths: ["/world/**"]
    placement: [{{after: "article h1"}}, body-end]
  # /styled/: body-end, with the notice's <style> before </head>.
  - id: bench-body-end-css
    notice: bench-notice-css
    jurisdictions: [RU]
    paths: ["/styled/**"]
    placement: body-end
  - id: bench-json
    notice: bench-notice
    jurisdictions: [RU]
    paths: ["/api/**"]
    placement: {{json: legal_notices}}
"""


def write_rules(folder: Path) -> Path:
    """The benchmark's rule file, written into `folder`; nothing covers `/about` or `/static/**`."""
    path = folder / "bench-rules.yaml"
    path.write_text(RULES_YAML, encoding="utf-8")
    return path
