# The README's two commands, plus helpers. Everything sets itself up on a fresh machine.
# The interpreter of .venv: the distribution's CPython when it is 3.11 or newer
# and can make a venv, else the first python3 on PATH. Debian builds its
# python3 with PGO and LTO and links it statically; pyenv's default build has
# none of that and costs 20-30 % more CPU on the broker's hot paths (the grant
# benchmark, docs/benchmarks.md). `make PY=...` picks another; `make clean` first.
SYSTEM_PY := /usr/bin/python3
PY ?= $(shell $(SYSTEM_PY) -c 'import sys, venv, ensurepip; sys.exit(sys.version_info < (3, 11))' \
	2>/dev/null && echo $(SYSTEM_PY) || echo python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint typecheck pytest fuzz bench soak sysdeps clean console-node

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

## run: start the broker with embedded defaults (SQLite, local region folders, demo targets)
run: $(STAMP) sysdeps
	$(BIN)/broker run

## sysdeps: Debian programs and fonts the tests and viewer use (sshd, lrzsz, tmux, DejaVu, chromium, tcpdump)
sysdeps:
	@./.ci/sysdeps

## test: lint, type-check and run the whole suite
test: $(STAMP) sysdeps lint typecheck pytest

lint: $(STAMP)
	$(BIN)/ruff check broker tests benchmarks
	$(BIN)/ruff format --check broker tests benchmarks

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP) console-node
	$(BIN)/pytest

## console-node: the console tests' node tools (oidc-provider, axe-core), from the lock file;
## nothing to do (and no network needed) once tests/console/node/node_modules is there
CONSOLE_NODE := tests/console/node
console-node:
	@test -d $(CONSOLE_NODE)/node_modules/oidc-provider -a -d $(CONSOLE_NODE)/node_modules/axe-core \
		|| npm ci --prefix $(CONSOLE_NODE) --no-audit --no-fund

## fuzz: schemathesis against the live API, per role, with many more examples and a fresh seed
FUZZ_EXAMPLES ?= 400
fuzz: $(STAMP)
	BROKER_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) BROKER_FUZZ_SEED= $(BIN)/pytest tests/api/test_fuzz.py -v

## bench: benchmarks, side by side with OpenSSH where there is a baseline
bench: $(STAMP) sysdeps
	$(BIN)/python -m benchmarks

## soak: the benchmarks plus the 2-minute whole-system soak (200 engineers)
soak: $(STAMP) sysdeps
	$(BIN)/python -m benchmarks --soak

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache

## screenshots: retake docs/console/*.png in Debian's chromium (demo data, a fake clock)
.PHONY: screenshots
screenshots: $(STAMP) console-node
	BROKER_DOCS_SCREENSHOT=1 $(BIN)/pytest tests/console/test_pages_browser.py -k Screenshots -q
