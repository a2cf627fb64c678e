# Two entry points: `make demo` (set up + run the whole job on embedded defaults)
# and `make test` (set up + run every test). Everything else is a helper.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test setup browser lint format typecheck bench bench-setup clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip uv
	$(BIN)/uv pip install --python $(BIN)/python --quiet --compile-bytecode -e '.[dev]'
	$(BIN)/python -m compileall -q extract transform flows demo bench > /dev/null
	touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	$(BIN)/kspyder demo

# headless Chromium for tests/transform/report/test_report_browser.py (Debian's package)
browser:
	command -v chromium > /dev/null || (apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium)

test: $(STAMP) browser
	$(BIN)/ruff check extract transform flows demo tests bench
	$(BIN)/ruff format --check extract transform flows demo tests bench
	$(BIN)/mypy
	$(BIN)/pytest -q

lint: $(STAMP)
	$(BIN)/ruff check extract transform flows demo tests bench
	$(BIN)/ruff format --check extract transform flows demo tests bench

format: $(STAMP)
	$(BIN)/ruff check --fix extract transform flows demo tests bench
	$(BIN)/ruff format extract transform flows demo tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

bench-setup: $(STAMP)
	$(BIN)/uv pip install --python $(BIN)/python --quiet --compile-bytecode -e '.[dev,bench]'

bench: bench-setup
	$(BIN)/python -m bench.run_all

clean:
	rm -rf .kspyder dbt_project/target dbt_project/logs
