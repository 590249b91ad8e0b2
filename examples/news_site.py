"""Northwind News: a small, fictional news site (Starlette), unaware of any legal notice.

`app` is the bare site. `examples/app.py` wraps it with ComplianceMiddleware in one line.
The article template carries a `<!-- legal-notice -->` marker where the site wants
notices to go, and a `<!-- banned-organization -->` marker right after the first mention
of an organization an article names as one; the rules decide whether anything goes there.
"""

from __future__ import annotations

from html import escape
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

HERE = Path(__file__).parent

ARTICLES: dict[str, dict[str, str | list[str]]] = {
    "river-port-reopens": {
        "title": "River port reopens after three weeks of ice",
        "date": "2026-03-02",
        "body": [
            "The cargo port at Lower Ferrow reopened on Monday after three weeks in which ice closed the "
            "river to everything but the harbour's own tug.",
            "Dock workers said the first barges, loaded with grain and timber, left before dawn. The port "
            "authority expects the backlog to clear by the end of the month.",
            "\u201cWe lost almost a fifth of the season\u2019s first quarter,\u201d said harbour master Ilse "
            "Brandt. \u201cNobody here remembers the ice staying this long.\u201d",
        ],
    },
    "council-budget-vote": {
        "title": "City council delays budget vote over school repairs",
        "date": "2026-03-05",
        "body": [
            "The city council postponed its vote on next year's budget after members disagreed over how "
            "much to set aside for repairs to four school buildings.",
            "An engineers' report published last week found damp and failing roofs in two of the schools. "
            "Parents' groups gathered outside the council chamber during the debate.",
            "The vote is now expected in two weeks. Until then, the city runs on the current budget.",
        ],
    },
    "press-freedom-report": {
        "title": "Journalists' group publishes annual press-freedom report",
        "date": "2026-03-09",
        "body": [
            "An independent journalists' association published its yearly report on the conditions under "
            "which reporters work across the region.",
            "The report counts fines, blocked websites and lawsuits brought against newsrooms, and notes "
            "that several outlets now publish from abroad.",
            "Our newsroom is among those listed. We continue to report for all our readers, wherever they are.",
        ],
    },
    "charity-appeal-hearing": {
        "title": "Court hears charity's appeal over frozen accounts",
        "date": "2026-03-12",
        # The template writes <!-- banned-organization --> right after the first mention of this name.
        "mentions": "Eastwind Foundation",
        "body": [
            "Lawyers for the Eastwind Foundation told the appeal court on Thursday that the freezing of its "
            "accounts had left forty staff unpaid since January.",
            "The foundation, which funds rural libraries, says it was given no reason for the order. A "
            "ruling is expected next month.",
        ],
    },
}


#: Articles with embedded video, served like the others but not listed on the home page; one
#: embed is from a broadcaster under EU sanctions.
WITH_EMBEDS: dict[str, dict[str, str | list[str]]] = {
    "gas-talks-stall": {
        "title": "Gas talks stall as both delegations walk out",
        "date": "2026-03-11",
        "body": [
            "Talks on next winter's gas deliveries broke off on Wednesday when both delegations left the "
            "conference hall within minutes of each other.",
            "State television broadcast the walkout live; the clips below show it as it was aired and the "
            "press conference that followed.",
        ],
        "embeds": [
            '<figure class="embed"><iframe src="https://www.rt.com/embed/gas-talks-walkout" width="560" '
            'height="315" title="The walkout, as broadcast">Your browser does not show embedded video.</iframe>'
            "<figcaption>The walkout, as broadcast</figcaption></figure>",
            '<figure class="embed"><iframe src="https://video.example.net/embed/press-conference" width="560" '
            'height="315" title="The press conference"></iframe><figcaption>The press conference</figcaption>'
            "</figure>",
        ],
    },
}


RUSSIAN_EDITION = {
    "doklad-o-svobode-pressy": {
        "title": "Ассоциация журналистов опубликовала ежегодный доклад о свободе прессы",
        "date": "2026-03-09",
        "body": [
            "Независимая ассоциация журналистов опубликовала ежегодный доклад об условиях работы репортёров в регионе.",
            "В докладе подсчитаны штрафы, блокировки сайтов и иски против редакций. Отмечается, что "
            "несколько изданий теперь работают из-за рубежа.",
        ],
    },
}


def _page(title: str, main: str, *, lang: str = "en") -> str:
    return f"""<!DOCTYPE html>
<html lang="{lang}">
<head>
<meta charset="utf-8">
<title>{escape(title)} | Northwind News</title>
<link rel="stylesheet" href="/static/site.css">
<script>window.analyticsQueue = [];  /* the page's own script: "</body>" in a string is not the end */</script>
</head>
<body>
<header><strong>Northwind News</strong>
<nav><a href="/">Home</a><a href="/news/">News</a><a href="/about">About</a></nav></header>
<main>
{main}
</main>
<footer><p>&copy; 2026 Northwind News. Independent reporting since 1998.</p></footer>
</body>
</html>
"""


async def home(request: Request) -> HTMLResponse:
    items = "\n".join(
        f'<li><a href="/news/{slug}">{escape(str(a["title"]))}</a> <time>{a["date"]}</time></li>'
        for slug, a in ARTICLES.items()
    )
    return HTMLResponse(_page("Home", f"<h1>Latest news</h1>\n<ul>\n{items}\n</ul>"))


async def news_index(request: Request) -> HTMLResponse:
    return await home(request)


async def article(request: Request) -> Response:
    slug = request.path_params["slug"]
    russian = request.url.path.startswith("/ru/")
    found = (RUSSIAN_EDITION if russian else ARTICLES).get(slug) or (None if russian else WITH_EMBEDS.get(slug))
    if found is None:
        return HTMLResponse(_page("Not found", "<h1>Not found</h1><p>No such article.</p>"), status_code=404)
    paragraphs = "\n".join(f"<p>{escape(p)}</p>" for p in found["body"])
    paragraphs += "".join(f"\n{embed}" for embed in found.get("embeds", ()))  # the site's own markup
    mention = found.get("mentions")
    if isinstance(mention, str):  # the marker after the first mention, for an annotation in the sentence
        paragraphs = paragraphs.replace(escape(mention), f"{escape(mention)}<!-- banned-organization -->", 1)
    main = f"""<article>
<h1>{escape(str(found["title"]))}</h1>
<p class="byline"><time>{found["date"]}</time></p>
{paragraphs}
<!-- legal-notice -->
</article>"""
    return HTMLResponse(_page(str(found["title"]), main, lang="ru" if russian else "en"))


async def about(request: Request) -> HTMLResponse:
    jurisdiction = getattr(request.state, "jurisdiction", None)
    where = escape(str(jurisdiction)) if jurisdiction is not None else "not resolved"
    return HTMLResponse(
        _page(
            "About",
            "<h1>About us</h1><p>Northwind News is an independent newsroom.</p>"
            f"<p>Your jurisdiction, as the site sees it: <code>{where}</code></p>",
        )
    )


async def kids(request: Request) -> HTMLResponse:
    return HTMLResponse(
        _page(
            "For young readers",
            "<h1>Northwind for young readers</h1>\n"
            '<form action="/kids/quiz" method="post"><label>Your answer <input name="answer"></label>'
            "<button>Send</button></form>\n"
            '<form action="/kids/newsletter" method="post"><label>Email <input name="email" type="email"></label>'
            "<button>Sign up</button></form>",
        )
    )


async def api_articles(request: Request) -> JSONResponse:
    return JSONResponse({"articles": [{"slug": s, "title": a["title"]} for s, a in ARTICLES.items()]})


SITE = "https://news.example"


def _item_html(found: dict[str, str | list[str]]) -> str:
    return "".join(f"<p>{escape(p)}</p>" for p in found["body"])


async def feed_rss(request: Request) -> Response:
    """RSS 2.0: each item's HTML in a CDATA section, as most publishing systems write it."""
    items = "".join(
        f"<item><title>{escape(str(a['title']))}</title><link>{SITE}/news/{slug}</link>"
        f"<guid>{SITE}/news/{slug}</guid><description><![CDATA[{_item_html(a)}]]></description></item>"
        for slug, a in ARTICLES.items()
    )
    body = (
        '<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel><title>Northwind News</title>'
        f"<link>{SITE}/</link><description>Independent reporting since 1998.</description>{items}</channel></rss>"
    )
    return Response(body, media_type="application/rss+xml; charset=utf-8")


async def feed_atom(request: Request) -> Response:
    """Atom: each entry's HTML escaped as text (type="html")."""
    entries = "".join(
        f"<entry><title>{escape(str(a['title']))}</title><id>{SITE}/news/{slug}</id>"
        f'<updated>{a["date"]}T08:00:00Z</updated><link href="{SITE}/news/{slug}"/>'
        f'<content type="html">{escape(_item_html(a), quote=False)}</content></entry>'
        for slug, a in ARTICLES.items()
    )
    body = (
        '<?xml version="1.0" encoding="utf-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom">'
        f"<title>Northwind News</title><id>{SITE}/</id><updated>2026-03-09T08:00:00Z</updated>"
        f"<author><name>Northwind News</name></author>{entries}</feed>"
    )
    return Response(body, media_type="application/atom+xml; charset=utf-8")


async def feed_json(request: Request) -> JSONResponse:
    """JSON Feed 1.1."""
    items = [
        {"id": f"{SITE}/news/{slug}", "url": f"{SITE}/news/{slug}", "title": a["title"], "content_html": _item_html(a)}
        for slug, a in ARTICLES.items()
    ]
    feed = {"version": "https://jsonfeed.org/version/1.1", "title": "Northwind News", "items": items}
    return JSONResponse(feed, media_type="application/feed+json")


_AMP_BOILERPLATE = (
    "<style amp-boilerplate>body{-webkit-animation:-amp-start 8s steps(1,end) 0s 1 normal both;"
    "animation:-amp-start 8s steps(1,end) 0s 1 normal both}@keyframes -amp-start{from{visibility:hidden}"
    "to{visibility:visible}}</style><noscript><style amp-boilerplate>body{-webkit-animation:none;"
    "animation:none}</style></noscript>"
)


async def amp_article(request: Request) -> HTMLResponse:
    """The article as an AMP page: one `<style amp-custom>` in its head, as AMP requires."""
    found = ARTICLES.get(request.path_params["slug"])
    if found is None:
        return HTMLResponse("<!doctype html><html amp><head></head><body>Not found</body></html>", status_code=404)
    slug = request.path_params["slug"]
    page = f"""<!doctype html>
<html ⚡ lang="en">
<head>
<meta charset="utf-8">
<script async src="https://cdn.ampproject.org/v0.js"></script>
<title>{escape(str(found["title"]))} | Northwind News</title>
<link rel="canonical" href="{SITE}/news/{slug}">
<meta name="viewport" content="width=device-width">
{_AMP_BOILERPLATE}
<style amp-custom>article{{max-width:40em;margin:auto}}</style>
</head>
<body>
<article>
<h1>{escape(str(found["title"]))}</h1>
{_item_html(found)}
<!-- legal-notice -->
</article>
</body>
</html>
"""
    return HTMLResponse(page)


async def healthz(request: Request) -> PlainTextResponse:
    return PlainTextResponse("ok")


app = Starlette(
    routes=[
        Route("/", home),
        Route("/news/", news_index),
        Route("/news/{slug}", article),
        Route("/ru/news/{slug}", article),
        Route("/about", about),
        Route("/kids", kids),
        Route("/api/articles", api_articles),
        Route("/healthz", healthz),
        Route("/feed.rss", feed_rss),
        Route("/feed.atom", feed_atom),
        Route("/feed.json", feed_json),
        Route("/amp/news/{slug}", amp_article),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]
)
