# Two commands set everything up: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test lint bench clean system-deps

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed")'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

demo: $(STAMP)
	$(PY) -m examples.serve

lint: $(STAMP)
	$(PY) -m ruff check compliance tests examples bench scripts
	$(PY) -m ruff format --check compliance tests examples bench scripts
	$(PY) -m mypy

# nginx (with ngx_http_geoip2_module) and Varnish: the edge tests run them for real, never skip them;
# Chromium: the preview-link test opens the link in a real headless browser.
system-deps:
	@if { [ -x /usr/sbin/nginx ] || command -v nginx >/dev/null 2>&1; } \
		&& { [ -x /usr/sbin/varnishd ] || command -v varnishd >/dev/null 2>&1; } \
		&& [ -e /usr/lib/nginx/modules/ngx_http_geoip2_module.so ] && [ -x /usr/bin/chromium ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "installing nginx, libnginx-mod-http-geoip2, varnish and chromium (apt-get)"; \
		apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			nginx libnginx-mod-http-geoip2 varnish chromium >/dev/null; \
	else \
		echo "make test needs nginx, libnginx-mod-http-geoip2, varnish and chromium: install them (as root: apt-get install nginx libnginx-mod-http-geoip2 varnish chromium)."; \
		exit 1; \
	fi

test: lint system-deps
	$(PY) -m pytest -q
	$(PY) scripts/other_pythons.py

# The benchmark (never part of `make test`): installs what it needs, wrk where it can, then runs.
bench: $(STAMP)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev,bench]'
	@command -v wrk >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 \
		&& (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk) >/dev/null 2>&1; } \
		|| echo "bench: wrk is not available; the over-the-wire runs use an async httpx client instead"
	$(PY) -m bench.run
	$(PY) -m bench.edge

clean:
	rm -rf $(VENV) .venv-3.* .pytest_cache .mypy_cache .ruff_cache .hypothesis
