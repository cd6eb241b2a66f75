# Two commands matter: `make run` and `make test`. Both create the environment first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: env run test dashboard lab db-start db-stop spark-start spark-stop bench clean notebook-outputs

env: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: env
	$(BIN)/altaviz run

test: env
	$(BIN)/python -m pytest

dashboard: env
	$(BIN)/altaviz dashboard

# JupyterLab with the venv's kernel, on the same data root and database as `make run` (paths resolve
# from the package, so any folder works): `make lab LAB_DIR=runs/<run_id>` reads a run's executed notebooks.
LAB_DIR ?= notebooks
lab: env
	$(BIN)/jupyter lab --notebook-dir=$(LAB_DIR)

db-start: env
	$(BIN)/altaviz db start

db-stop: env
	$(BIN)/altaviz db stop

# The Spark Connect server a run starts for itself, kept running (for JupyterLab, or several runs).
spark-start: env
	$(BIN)/altaviz spark start

spark-stop: env
	$(BIN)/altaviz spark stop

# The pipeline harness on fleets of 10, 100 and 1,000 compressors: `make bench BENCH_ARGS="--fleets 10,100 --runs 2"`.
BENCH_ARGS ?=
bench: env
	$(BIN)/python -m bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV)

# Re-record the notebook outputs nbval compares (cells marked NBVAL_CHECK_OUTPUT).
notebook-outputs: env
	$(BIN)/python scripts/refresh_notebook_outputs.py
