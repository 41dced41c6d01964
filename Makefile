# rlrewards: the two commands of the quickstart, plus helpers.
#   make demo   install into .venv if needed, then run the embedded default (tiny model, arith, GRPO)
#   make test   install into .venv if needed, then run the test suite (what .ci/run calls)
#   make docs   regenerate the README's option lists from conf/

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# The CPU build of torch; any torch requirement in pyproject.toml admits this version.
TORCH_SPEC ?= torch==2.13.0
STAMP := $(VENV)/.installed

.PHONY: install demo test test-all lint format clean reproduce demo-table docs rehearse

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "$(TORCH_SPEC)"
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/rlrewards-train $(ARGS)

test: $(STAMP)
	$(BIN)/python -m pytest -m "not slow and not gpu" $(PYTEST_ARGS)

test-all: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check rlrewards tests scripts

format: $(STAMP)
	$(BIN)/ruff format rlrewards tests scripts
	$(BIN)/ruff check --fix rlrewards tests scripts

# Rewrite the README's generated option lists (recipes, experiments, suites, ...) from conf/; tests/test_docs.py fails
# when they are stale.
docs: $(STAMP)
	$(BIN)/python -m rlrewards.docs_gen

clean:
	rm -rf outputs multirun .pytest_cache .ruff_cache

# Every paper experiment trained and evaluated end to end on CPU with stand-in models and fixture data (about 20 min
# on 2 cores): outputs/rehearsal/summary.json. ARGS="--only laser/" for a subset, ARGS="--keep-going" past failures.
rehearse: $(STAMP)
	$(BIN)/rlrewards-rehearse $(ARGS)

# Print the train and eval commands (with GPU counts) for every reproduced row of a paper: make reproduce PAPER=pure
reproduce: $(STAMP)
	$(BIN)/python -m rlrewards.reporting.reproduce $(PAPER)

# Each paper's mechanism on its CPU testbed against its baseline (results/demo/claims.yaml): summary.csv, claims.csv,
# REPORT.md and figures under results/demo/.
# Finished runs (results/demo/table_runs/) are reused; ARGS="--reuse" only rebuilds the table.
demo-table: $(STAMP)
	$(BIN)/python -m rlrewards.reporting.demo_table $(ARGS)
