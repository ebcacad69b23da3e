# Two commands on a fresh machine with python3 and make: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

.PHONY: install run worker test lint typecheck pytest histories reset clean bench screenshots

$(INSTALLED): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(INSTALLED)

install: $(INSTALLED)

## The whole system: Temporal dev server (UI on :8233), worker and the demo portfolio.
run: install
	scripts/run.sh

## Only the worker, against TEMPORAL_ADDRESS (default localhost:7233).
worker: install
	$(BIN)/python worker.py

## Lint, type checks and the whole test suite.
test: lint typecheck pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy .

pytest: install
	scripts/pytest.sh

## Figures of one run on this machine (own dev server and worker) as JSON; BENCH_CASES=1000.
bench: install
	@$(BIN)/python scripts/bench/bench.py

## Re-record the histories that the replay test replays (after a deliberate workflow change).
histories: install
	RECORD_HISTORIES=1 scripts/pytest.sh tests/workflow/test_workflow.py tests/workflow/test_debt_by_part.py \
		tests/workflow/test_assignment.py tests/workflow/test_strategy_routing.py tests/workflow/test_callbacks.py

## Screenshots of the Temporal UI, the desk and the borrower's page for the README (each starts
## and stops its stack; needs chromium).
screenshots: install
	$(BIN)/python scripts/screenshots.py
	$(BIN)/python scripts/desk_screenshots.py
	$(BIN)/python scripts/portal_screenshots.py

## Forget the demo's cases: the Temporal dev server's and the case database's files.
reset:
	rm -rf var

clean:
	rm -rf $(VENV) var .mypy_cache .ruff_cache .pytest_cache
