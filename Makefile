# Two commands on a fresh machine: `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | sha1sum | cut -c1-12)
PYTEST_WORKERS ?= auto

.PHONY: run test bench lint format install clean bwrap chromium

$(BIN)/python:
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ is required"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# llama-cpp-python compiles from source: a portable AVX2 build, not -march=native, because
# ggml's native build uses AMX tiles where the CPU lists them, and that crashes (SIGSEGV in
# decode) in VMs whose kernel does not grant AMX state to the process.
LLAMA_CMAKE_ARGS := -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_AVX512=OFF

$(STAMP): pyproject.toml | $(BIN)/python
	CMAKE_ARGS="$${CMAKE_ARGS:-$(LLAMA_CMAKE_ARGS)}" $(BIN)/python -m pip install --quiet -e '.[dev,local]'
	@rm -f $(VENV)/.installed-* && touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/auterity up

# The SSO tests run a real OpenID Provider (node `oidc-provider`, tests/fixtures/oidc) on Node 20+.
OIDC_FIXTURE := tests/fixtures/oidc
OIDC_STAMP := $(OIDC_FIXTURE)/node_modules/.package-lock.json

$(OIDC_STAMP): $(OIDC_FIXTURE)/package-lock.json
	@command -v npm >/dev/null || (apt-get update && apt-get install -y --no-install-recommends nodejs npm)
	@node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)' || \
		{ echo "Node.js 20 or later is needed for the SSO tests (found $$(node --version))"; exit 1; }
	cd $(OIDC_FIXTURE) && npm ci --no-audit --no-fund
	@touch $(OIDC_STAMP)

# Code steps run in bubblewrap namespaces (docs/CODE_STEPS.md); their tests cover it and the
# plain-process fallback.
BWRAP := $(shell command -v bwrap 2>/dev/null)

bwrap:
ifeq ($(BWRAP),)
	@command -v apt-get >/dev/null && { apt-get update && apt-get install -y --no-install-recommends bubblewrap || \
		sudo sh -c 'apt-get update && apt-get install -y --no-install-recommends bubblewrap'; } || \
		echo "bubblewrap (bwrap) is missing and could not be installed: code-step tests run without it"
endif

# The browser integration drives Debian's Chromium through Playwright (never `playwright
# install`: nothing is downloaded but the package); its tests need it.
CHROMIUM := $(shell command -v chromium 2>/dev/null || command -v chromium-browser 2>/dev/null)

chromium:
ifeq ($(CHROMIUM),)
	@command -v apt-get >/dev/null && { apt-get update && apt-get install -y --no-install-recommends chromium || \
		sudo sh -c 'apt-get update && apt-get install -y --no-install-recommends chromium'; } || \
		echo "chromium is missing and could not be installed: the browser tests are skipped"
endif

test: $(STAMP) $(OIDC_STAMP) bwrap chromium
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/python benchmarks/run_all.py

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format src tests benchmarks
	$(BIN)/ruff check --fix src tests benchmarks

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
