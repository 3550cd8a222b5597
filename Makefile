# Both entry points build the virtualenv themselves on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DATA ?= ./data
LISTEN ?= 127.0.0.1:8765

.PHONY: run test lint chaos bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/corpchat serve --data $(DATA) --listen $(LISTEN)

# The web client's tests (tests/web) drive Debian's chromium through Playwright (no browser
# download: there may be no internet), with a colour emoji font so reactions render (the
# screenshots in docs/web/). CI runs as root; elsewhere install them once yourself.
CHROMIUM := /usr/bin/chromium
$(CHROMIUM):
	apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium fonts-noto-color-emoji

# lint first, so that CI runs ruff and mypy with the tests.
test: lint $(CHROMIUM)
	$(BIN)/python -m pytest -q

# ruff, and mypy over the packages as `corpchat.*` (see [tool.mypy] in pyproject.toml).
TYPECHECK := $(VENV)/typecheck/corpchat
lint: $(STAMP)
	$(BIN)/ruff check protocol adminclient store bridge search server loadtest tests
	mkdir -p $(TYPECHECK)
	for p in protocol adminclient store bridge search server loadtest; do ln -sfn ../../../$$p $(TYPECHECK)/$$p; done
	$(BIN)/mypy -p corpchat.protocol -p corpchat.adminclient -p corpchat.bridge -p corpchat.store -p corpchat.search -p corpchat.server -p corpchat.loadtest

# Long runs, not part of `make test`: kill -9 twenty times under load and cut
# a thousand connections at random bytes; then the benchmark scenarios.
chaos: $(STAMP)
	$(BIN)/python -m tests.reliability.chaos --kills 20 --seconds 60 --cuts 1000

bench: $(STAMP)
	bash loadtest/bench.sh

clean:
	rm -rf $(VENV) build *.egg-info
