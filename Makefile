# vae-notebooks: the two commands are `make test` (everything CI checks) and `make notebooks`
# (run every notebook in full into target/notebooks). See README.md.

SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-print-directory

ROOT := $(abspath $(dir $(lastword $(MAKEFILE_LIST))))
VENV := $(ROOT)/.venv
PY := $(VENV)/bin/python
CARGO ?= cargo

# The venv's Jupyter (and `evcxr_jupyter --install`) find the `rust` kernel here.
export JUPYTER_PATH := $(VENV)/share/jupyter
# cargo-installed tools (evcxr_jupyter) may not be on PATH in a fresh shell.
export PATH := $(PATH):$(or $(CARGO_HOME),$(HOME)/.cargo)/bin
# Nothing below may wait for a terminal.
export PIP_NO_INPUT := 1
export npm_config_yes := true

# candle's element-wise pool uses one thread per core; on a 2-core machine those threads compete
# with gemm's and with rustc. One thread was not clearly slower (conv VAE 85.0 vs 79.8 s/epoch,
# within noise). Set CANDLE_NUM_THREADS to override.
NPROC := $(shell nproc 2>/dev/null || echo 1)
ifeq ($(origin CANDLE_NUM_THREADS),undefined)
  ifeq ($(shell test $(NPROC) -le 2 && echo few),few)
    export CANDLE_NUM_THREADS := 1
  endif
endif

.PHONY: help setup data fmt test test-rust test-scripts test-explorer test-data notebooks notebooks-quick lab clean-notebooks fuzz

help:
	@echo "make test            setup + Rust tests + checks + every notebook in quick mode (what CI runs)"
	@echo "make notebooks       setup + every notebook in full into target/notebooks (.ipynb + .html)"
	@echo "make notebooks-quick the same with VAE_QUICK=1 (short training runs)"
	@echo "make lab             JupyterLab with the Rust kernel"
	@echo "make setup           .venv, evcxr_jupyter, the 'rust' kernel, data (idempotent)"
	@echo "make data            MNIST + Fashion-MNIST into data/ (or \$$VAE_DATA_DIR), verified"
	@echo "make clean-notebooks strip outputs from notebooks/*.ipynb"
	@echo "make test-explorer   the latent explorer in headless Chromium"
	@echo "make test-data       exercise scripts/fetch_data.sh (downloads, ~1 min)"
	@echo "make fuzz            libFuzzer on the IDX reader and checkpoint loader (FUZZ_SECONDS per target)"
	@echo "make fmt             rewrite the Rust formatting (both workspaces; make test checks it)"
	@echo "make test-rust       formatting check, cargo test --workspace, the hub feature check"
	@echo "make test-scripts    the notebook runner's and kernel launcher's own tests"

setup:
	$(ROOT)/scripts/setup.sh

data:
	$(ROOT)/scripts/fetch_data.sh

# Extra flags for the quick notebook run in `make test` (e.g. --keep-going). Finding no
# notebook at all fails; RUN_NOTEBOOKS_FLAGS=--allow-empty accepts that deliberately.
RUN_NOTEBOOKS_FLAGS ?=

test: setup
	@$(MAKE) test-rust
	$(PY) $(ROOT)/scripts/check_notebooks_clean.py
	$(PY) $(ROOT)/scripts/make_notebooks.py --check
	$(PY) $(ROOT)/scripts/check_env_agrees.py
	@$(MAKE) test-scripts
	@$(MAKE) test-explorer
	$(PY) $(ROOT)/scripts/run_notebooks.py --quick $(RUN_NOTEBOOKS_FLAGS)
	@echo "make test: all passed"

# Formatting first: it takes a second and names the file, where a long test run would not.
# `make fmt` rewrites; the fuzz/ workspace is formatted with the same rustfmt.toml.
test-rust:
	cd $(ROOT) && $(CARGO) fmt --all --check && cd fuzz && $(CARGO) fmt --all --check
	cd $(ROOT) && $(CARGO) test --workspace
	cd $(ROOT) && $(CARGO) check -p vae-core --features hub

# The runner's own tests, including the deliberately failing notebooks; VAE_REQUIRE_EVCXR=1
# makes a missing Rust kernel a failure instead of a skip.
test-scripts:
	cd $(ROOT) && VAE_REQUIRE_EVCXR=1 $(PY) -m pytest -q -p no:cacheprovider scripts/tests

# The latent explorer in headless Chromium (Debian's package; installed if missing).
test-explorer:
	cd $(ROOT) && PATH=$(VENV)/bin:$$PATH scripts/test_explorer.sh

fmt:
	cd $(ROOT) && $(CARGO) fmt --all && cd fuzz && $(CARGO) fmt --all

test-data:
	$(ROOT)/scripts/tests/test_fetch_data.sh

# Coverage-guided fuzzing (stable Rust, libFuzzer); grows and minimises fuzz/corpus/. Not part
# of `make test`, which replays the kept corpus instead (vae-core/tests/fuzz_corpus.rs).
FUZZ_SECONDS ?= 600
fuzz:
	$(ROOT)/scripts/fuzz.sh $(FUZZ_SECONDS)

# The runner fails when it finds no notebook, so a missing notebooks/ never passes as done.
notebooks: setup
	$(PY) $(ROOT)/scripts/run_notebooks.py

notebooks-quick: setup
	$(PY) $(ROOT)/scripts/run_notebooks.py --quick

lab: setup
	cd $(ROOT)/notebooks && EVCXR_CONFIG_DIR=$(ROOT)/notebooks $(VENV)/bin/jupyter lab

clean-notebooks:
	python3 $(ROOT)/scripts/check_notebooks_clean.py --fix
