"""The benchmark suite of `compliance` (`make bench`, or `python -m bench.run`).

Never run by the tests. Modules:

- `page`: the 100 KB news page, the JSON API body, the streamed page, the rules;
- `apps`: the bare apps, ours wrapped around them, the naive peer, lol-html, the limit;
- `driver`: the in-process ASGI driver and interleaved timing;
- `inprocess`, `streaming`, `resolution`, `wire`: the scenarios;
- `serve`: one uvicorn server for the over-the-wire runs;
- `report`: results.md, results.json, chart.png and docs/performance.md;
- `run`: the entry point;
- `profile`: one in-process scenario in a loop, under a profiler (`python -m bench.profile`).

`micro_rewrite.py` is a separate script that times the HTML rewriter alone.
"""
