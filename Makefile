# ftlab course — the two commands: `make lab` and `make test`.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.ftlab-installed
# Notebooks run offline, in quick mode, with a cache inside the checkout (a fresh clone starts cold).
NOTEBOOK_ENV := FTLAB_OFFLINE=1 FTLAB_QUICK=1 FTLAB_CACHE=$(CURDIR)/build/cache TF_CPP_MIN_LOG_LEVEL=2 MPLBACKEND=Agg

.PHONY: lab test install lint unit notebooks benchmark clean

# Re-install only when the requirements or the package metadata change.
$(STAMP): requirements.txt pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	@touch $(STAMP)

install: $(STAMP)

lab: install
	$(BIN)/jupyter lab --notebook-dir=notebooks

lint: install
	$(BIN)/ruff check ftlab tests tools benchmarks notebooks

unit: install
	$(BIN)/python -m pytest -q tests

notebooks: install
	$(NOTEBOOK_ENV) $(BIN)/python -m pytest -q --nbval-lax --durations=0 -p no:cacheprovider notebooks

test: lint unit notebooks

benchmark: install
	$(BIN)/python benchmarks/bench_features.py

clean:
	rm -rf $(VENV) build .pytest_cache .ruff_cache
