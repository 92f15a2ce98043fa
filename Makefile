# Foley: `make demo` (try it) and `make test` (the whole suite, as CI runs it).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.foley-installed
DEMO_DIR ?= demo
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: install demo test lint system-deps bench clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# torch first, alone: the pinned build lies on this disk and torchaudio must match it
	$(PY) -m pip install -q torch==2.14.1
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# espeak-ng gives the synthetic corpus a real voice; without it a formant voice is used.
# The PostgreSQL server binaries (/usr/lib/postgresql/*/bin) let the catalog tests start a
# throwaway server of their own; without them those tests fail, naming this target.
# Chromium (/usr/bin/chromium, with a font) is the browser the web app's tests drive through
# Playwright; no browser is ever downloaded.
# Whatever is missing is installed with one apt-get update when running as root.
system-deps:
	@missing=""; \
	command -v espeak-ng >/dev/null 2>&1 || missing="$$missing espeak-ng"; \
	ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || missing="$$missing postgresql"; \
	test -x /usr/bin/chromium || missing="$$missing chromium fonts-liberation"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq || echo "warning: apt-get update failed" >&2; \
	    for pkg in $$missing; do \
	      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$pkg \
	        >/dev/null || echo "warning: could not install $$pkg" >&2; \
	    done; \
	  fi; \
	  command -v espeak-ng >/dev/null 2>&1 \
	    || echo "warning: espeak-ng missing; synth uses its formant voice" >&2; \
	  ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 \
	    || echo "warning: PostgreSQL server missing (Debian: apt-get install postgresql);" \
	            "the PostgreSQL catalog tests will fail" >&2; \
	  test -x /usr/bin/chromium \
	    || echo "warning: /usr/bin/chromium missing (Debian: apt-get install chromium);" \
	            "the browser tests will fail" >&2; \
	fi; true

lint: install
	$(VENV)/bin/ruff check .

test: install system-deps lint
	$(VENV)/bin/pytest -q -p no:cacheprovider

demo: install system-deps
	$(VENV)/bin/foley demo --out $(DEMO_DIR)

bench: install
	$(PY) -m benchmarks.run

clean:
	rm -rf $(DEMO_DIR) foley-home .pytest_cache .ruff_cache
