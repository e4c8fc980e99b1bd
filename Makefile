# Every target installs what it needs into .venv, so a fresh machine needs only `make train` / `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install test train eval bench lint format clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# Two test processes: most of the suite's time is real `conv1d` processes and waits, so two
# processes on two cores take about half the wall time of one (docs/architecture.md, "Tests").
TEST_PROCS ?= 2

test: $(STAMP)
	$(BIN)/python -m pytest -q -n $(TEST_PROCS)

train: $(STAMP)
	$(BIN)/conv1d train configs/mnist.yaml

# Evaluates the newest run of the default config (a second `make train` writes runs/mnist-2).
eval: $(STAMP)
	@run=$$(ls -td runs/mnist runs/mnist-[0-9]* 2>/dev/null | head -n 1); \
	if [ -z "$$run" ]; then echo "error: no runs/mnist* run yet; run 'make train' first" >&2; exit 2; fi; \
	echo "$(BIN)/conv1d eval $$run"; $(BIN)/conv1d eval "$$run"

# PyTorch is a benchmark-only dependency (never runtime or tests): installed here on first use.
# Options go in BENCH_ARGS, e.g. `make bench BENCH_ARGS="--quick --sections templates"`;
# with --no-torch nothing is installed.
TORCH_SPEC ?= torch==2.13.0
BENCH_ARGS ?=

bench: $(STAMP)
	@if [ -z "$(findstring --no-torch,$(BENCH_ARGS))" ] && ! $(BIN)/python -c "import torch" 2>/dev/null; then \
	  echo "installing $(TORCH_SPEC) into $(VENV) for the PyTorch columns (benchmark only)"; \
	  $(BIN)/pip install --quiet --disable-pip-version-check "$(TORCH_SPEC)" || { \
	    echo "error: could not install $(TORCH_SPEC); run 'make bench BENCH_ARGS=--no-torch' to measure without PyTorch" >&2; exit 2; }; \
	fi
	$(BIN)/python benchmarks/bench.py $(BENCH_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache
