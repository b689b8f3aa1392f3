# mogulsync: every set-up step lives here, so a fresh machine needs only `make demo` or `make test`.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
LOCK := requirements/dev.lock
DBT_LOCK := requirements/dbt.lock
STAMP := $(VENV)/.installed

.PHONY: help install system-deps demo serve test test-fast test-any-day lint format typecheck bench lock clean

help:  ## list targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

# Bytecode is compiled at install, as pip does: uv does not by default, and with
# PYTHONDONTWRITEBYTECODE=1 every command would compile ~1,300 modules again (seconds of CPU).
$(STAMP): pyproject.toml $(LOCK) $(DBT_LOCK)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==0.13.9
	$(BIN)/uv pip install --quiet --python $(BIN)/python --require-hashes --compile-bytecode -r $(LOCK)
	$(BIN)/uv pip install --quiet --python $(BIN)/python --no-deps -e .
	$(BIN)/python -m compileall -q src >/dev/null
	# dbt in a venv of its own (its pins clash with mypy's), its command on the dev PATH
	$(PYTHON) -m venv $(VENV)/dbt
	$(BIN)/uv pip install --quiet --python $(VENV)/dbt/bin/python --require-hashes -r $(DBT_LOCK)
	ln -sf ../dbt/bin/dbt $(BIN)/dbt
	touch $(STAMP)

install: $(STAMP) system-deps  ## create .venv and install the locked dependencies

# PostgreSQL server binaries for the test suite (it starts its own throw-away cluster), and
# Debian's chromium for the web UI's browser tests (Playwright drives it; its own browser
# download is not needed).
system-deps:
	@if ! command -v initdb >/dev/null 2>&1 && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then \
	  echo "installing PostgreSQL server binaries with apt"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; \
	fi
	@if ! command -v chromium >/dev/null 2>&1; then \
	  echo "installing chromium with apt (browser tests)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	fi

demo: install  ## start the emulator, load a sample warehouse and run real syncs end to end
	$(BIN)/python -m mogulsync.demo
	@echo
	@echo "Next: the scheduler, API and web UI on the same project:  make serve"

SERVE_PORT ?= 8800
serve: install  ## mogulsync serve on the demo project (emulator; http://127.0.0.1:8800; SERVE_PORT=...)
	$(BIN)/python -m mogulsync.serve.demo --port $(SERVE_PORT)

test: install  ## lint, type-check and run the whole test suite
	$(BIN)/ruff format --check src tests bench scripts
	$(BIN)/ruff check src tests bench scripts
	$(BIN)/mypy
	$(BIN)/pytest -n 2 --dist loadfile

test-fast: install  ## unit tests only
	$(BIN)/pytest tests/unit -q

# Not part of `make test`: the suite under a shifted wall clock (docs/testing.md), e.g.
# make test-any-day DAY=2028-02-29 ARGS="tests/unit -q"
DAY ?= 2028-02-29
ARGS ?= -n 2 --dist loadfile -q
test-any-day: install  ## the tests as if today were DAY (libfaketime; see docs/testing.md)
	@if ! command -v faketime >/dev/null 2>&1; then \
	  echo "installing libfaketime with apt"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq faketime >/dev/null; \
	fi
	scripts/any_day.sh "$(DAY)" $(ARGS)

lint: install  ## ruff check only
	$(BIN)/ruff check src tests bench scripts

format: install  ## fix formatting and lint where ruff can
	$(BIN)/ruff format src tests bench scripts
	$(BIN)/ruff check --fix src tests bench scripts

typecheck: install  ## mypy --strict only
	$(BIN)/mypy

bench: install  ## run every benchmark (see docs/performance.md)
	$(BIN)/python bench/client_throughput.py
	$(BIN)/python bench/sync_throughput.py
	$(BIN)/python bench/extract_vs_airbyte.py
	$(BIN)/python bench/events_ingest.py
	$(BIN)/python bench/shared_limit.py
	$(BIN)/python bench/cli_startup.py
	$(BIN)/python bench/bulk_initial_load.py
	$(BIN)/python bench/no_change_rerun.py
	$(BIN)/python bench/diff_million.py
	$(BIN)/python bench/reconcile.py
	$(BIN)/python bench/run_history_prune.py
	$(BIN)/python bench/serve_soak.py
	$(BIN)/python bench/run_progress_cost.py
	$(BIN)/python bench/delete_guard_cost.py
	$(BIN)/python bench/pg_moment_loader.py

lock:  ## re-resolve requirements/dev.lock from pyproject.toml
	$(BIN)/uv pip compile pyproject.toml --extra dev --python-version 3.11 --generate-hashes -o $(LOCK)
	$(BIN)/uv pip compile requirements/dbt.in --python-version 3.11 --generate-hashes -o $(DBT_LOCK)

clean:  ## remove .venv and the tools' caches
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
