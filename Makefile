# Two commands do everything on a fresh machine:
#   make run    set up .venv, then run the study in $(CONFIG) (default: the small study that runs anywhere)
#   make test   set up .venv, then run the test suite
#   make report the HTML report of the study in $(CONFIG), after make run: results/<study>/report.html
#   make lint   ruff (lint + format check), snakemake --lint, snakefmt --check; make format fixes what it can
# A GPU study: make run CONFIG=config.yaml CORES=8

PYTHON ?= python3
VENV ?= .venv
CONFIG ?= config/smoke.yaml
CORES ?= all
BIN := $(VENV)/bin

.PHONY: run report test lint format clean

$(BIN)/snakemake: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --upgrade pip
	$(BIN)/pip install -e ".[test]"
	$(BIN)/pip install --no-deps "torchattacks>=3.5"   # test reference and optional AutoAttack; see pyproject.toml
	touch $@

# A quiet console: Snakemake's progress, each finished run, warnings, errors and the findings; each job's details are
# in logs/ (snakemake without --quiet prints them too).
run: $(BIN)/snakemake
	$(BIN)/snakemake --cores $(CORES) --configfile $(CONFIG) --quiet rules host

# The report of the same study that make run ran (its name, the config's `study:`, is its folder in results/).
report: $(BIN)/snakemake
	$(BIN)/snakemake --cores 1 --configfile $(CONFIG) --report \
	  "results/$$($(BIN)/python -c 'import sys, yaml; print(yaml.safe_load(open(sys.argv[1])).get("study", "study"))' $(CONFIG))/report.html"

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
