# Two commands do everything on a fresh machine:
#   make run    set up .venv, then run the study in $(CONFIG) (default: the small study that runs anywhere)
#   make test   set up .venv, then run the test suite
#   make lint   ruff (lint + format check), snakemake --lint, snakefmt --check; make format fixes what it can
# A GPU study: make run CONFIG=config.yaml CORES=8

PYTHON ?= python3
VENV ?= .venv
CONFIG ?= config/smoke.yaml
CORES ?= all
BIN := $(VENV)/bin

.PHONY: run test lint format clean

$(BIN)/snakemake: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --upgrade pip
	$(BIN)/pip install -e ".[test]"
	$(BIN)/pip install --no-deps "torchattacks>=3.5"   # test-only reference; see pyproject.toml
	touch $@

run: $(BIN)/snakemake
	$(BIN)/snakemake --cores $(CORES) --configfile $(CONFIG)

test: $(BIN)/snakemake
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/pytest -ra

lint: $(BIN)/snakemake
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/snakemake --lint
	$(BIN)/snakefmt --check .

format: $(BIN)/snakemake
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .
	$(BIN)/snakefmt .

clean:
	rm -rf results logs .snakemake
