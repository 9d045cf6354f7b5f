# ftlab course — the two commands: `make lab` and `make test`.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.ftlab-installed
# Notebooks run offline, in quick mode, with a cache inside the checkout (a fresh clone starts cold).
NOTEBOOK_ENV := FTLAB_OFFLINE=1 FTLAB_QUICK=1 FTLAB_CACHE=$(CURDIR)/build/cache TF_CPP_MIN_LOG_LEVEL=2 MPLBACKEND=Agg

.PHONY: lab test install chromium lint unit notebooks benchmark clean

# Re-install only when the requirements or the package metadata change.
$(STAMP): requirements.txt pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	@touch $(STAMP)

install: $(STAMP)

# The browser test drives Debian's Chromium (Playwright's own browser download does not work offline).
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "installing Debian's chromium for the browser test"; \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; fi; }

lab: install
	$(BIN)/jupyter lab --notebook-dir=notebooks

lint: install
	$(BIN)/ruff check ftlab tests tools benchmarks notebooks

unit: install chromium
	$(BIN)/python -m pytest -q --durations=10 tests

notebooks: install
	$(NOTEBOOK_ENV) $(BIN)/python -m pytest -q --nbval-lax --durations=0 -p no:cacheprovider notebooks

test: lint unit notebooks

# Speed and memory figures (printed, never asserted): features cache, finetune on 200 photos,
# GPT-2 base full vs LoRA steps (needs ~4 GiB for the full step).
benchmark: install
	$(BIN)/python benchmarks/bench_features.py
	$(BIN)/python benchmarks/bench_gpt2_lora.py

clean:
	rm -rf $(VENV) build .pytest_cache .ruff_cache
