# The two commands that matter: `make demo` and `make test`. Both need only Python 3.11 and pip.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: demo test test-compat e2e e2e-compat e2e-cluster chromium lint typecheck unit bench emulator clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	rm -f $(VENV)/.installed-* && touch $@

## demo: run the example DAG end to end against the embedded Soda Cloud emulator
demo: $(STAMP)
	$(BIN)/python scripts/demo.py

## test: ruff, mypy and the test suite
test: lint typecheck unit

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest

## test-compat: the test suite on the lowest supported Airflow (AIRFLOW_LOWEST), in .venv-compat
AIRFLOW_LOWEST ?= 3.2.0
# Airflow 3.2 declares no upper bounds on these, and their newer releases break its own task runner
# (KeyError 'svcs_registry', pydantic discriminator errors). Airflow's constraints file for 3.2 pins
# older ones; CI cannot download it, so the few that matter are pinned here (see README).
COMPAT_PINS ?= fastapi<0.137 svcs<26
COMPAT := .venv-compat
COMPAT_STAMP := $(COMPAT)/.installed-$(AIRFLOW_LOWEST)-$(shell echo '$(COMPAT_PINS)' | cat pyproject.toml - | cksum | cut -d' ' -f1)

$(COMPAT_STAMP): pyproject.toml
	test -x $(COMPAT)/bin/python || $(PYTHON) -m venv $(COMPAT)
	$(COMPAT)/bin/python -m pip install --quiet --upgrade pip
	$(COMPAT)/bin/python -m pip install --quiet "apache-airflow==$(AIRFLOW_LOWEST)" $(foreach pin,$(COMPAT_PINS),'$(pin)') -e '.[dev]'
	rm -f $(COMPAT)/.installed-* && touch $@

test-compat: $(COMPAT_STAMP)
	$(COMPAT)/bin/python -c "import airflow; print('Airflow', airflow.__version__)"
	$(COMPAT)/bin/pytest -p no:cacheprovider

## e2e: airflow standalone + emulator, driven through the UI in Debian's Chromium (about a minute)
CHROMIUM ?= /usr/bin/chromium
e2e: $(STAMP) chromium
	$(BIN)/python -m pip install --quiet -e '.[e2e]'
	CHROMIUM=$(CHROMIUM) $(BIN)/python e2e/run.py

## e2e-compat: the same on the lowest supported Airflow (AIRFLOW_LOWEST), in .venv-compat
e2e-compat: $(COMPAT_STAMP) chromium
	$(COMPAT)/bin/python -m pip install --quiet -e '.[e2e]'
	CHROMIUM=$(CHROMIUM) $(COMPAT)/bin/python e2e/run.py

## e2e-cluster: CeleryExecutor, PostgreSQL, Redis, two workers: a failure storm shares one rate limit
e2e-cluster: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[cluster]'
	$(BIN)/python e2e/cluster.py

chromium:
	test -x $(CHROMIUM) || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium)

## bench: rate-limit, overhead, parse-cost and incident-wait benchmarks (a few minutes; prints the README figures)
bench: $(STAMP)
	$(BIN)/python bench/rate_limits.py
	$(BIN)/python bench/incident_waits.py

## emulator: serve the offline Soda Cloud on http://127.0.0.1:8765 until Ctrl-C
emulator: $(STAMP)
	$(BIN)/python -m airflow_provider_soda.testing.emulator --port 8765

clean:
	rm -rf $(VENV) $(COMPAT) .airflow .pytest_cache .mypy_cache .ruff_cache *.egg-info
