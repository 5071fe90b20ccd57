# The two commands of the Quick start: `make run` serves the axis, `make test` runs every check.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test setup services browser lint typecheck pytest clean

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON) (Debian: apt-get install python3.11 python3.11-venv)"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install -q --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

services:
	@scripts/ensure-services

# Debian's chromium for the browser tests (tests/e2e/test_browser.py).
browser:
	@scripts/ensure-browser

setup: $(STAMP) services
	@mkdir -p var/blobs

run: setup
	$(BIN)/axis migrate
	@test -f var/ca/root-ca.pem || $(BIN)/axis ca init var/ca --name "Axis Development CA" >/dev/null
	@$(BIN)/axis ca crl var/ca >/dev/null
	@echo "The axis serves on http://127.0.0.1:8080 (health: /healthz, /readyz, metrics: /metrics). Stop it with Ctrl-C."
	@test -f var/secret.key || $(BIN)/python -c "from axis.core.secrets import dev_key; dev_key()"
	exec env AXIS_ENV=$${AXIS_ENV:-development} AXIS_SECRET_KEY=$${AXIS_SECRET_KEY:-$$(cat var/secret.key)} $(BIN)/axis serve

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

# Two processes, each test file whole in one of them (its module fixtures made once); every test
# has its own database and queue prefix, so they do not meet. PYTEST_ARGS adds to it.
pytest: setup browser
	$(BIN)/python -m pytest -n $${AXIS_TEST_PROCESSES:-2} --dist loadfile $(PYTEST_ARGS)

test: setup lint typecheck pytest

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
