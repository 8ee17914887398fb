# Roomtone: `make run` to use it, `make test` to check it. Both honour DATABASE_URL and REDIS_URL.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test e2e lint fmt install migrate seed bench-fanout bench-sync bench-advance bench-analytics clean

# Reinstalls when pyproject.toml changes; a half-finished install leaves no marker behind.
$(VENV)/.installed: pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON) on PATH (or set PYTHON=...)"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $@

install: $(VENV)/.installed

migrate: install
	$(PY) manage.py migrate --noinput

# The demo accounts have published passwords: seed_demo runs only with DEBUG on.
seed: migrate
	DEBUG=$${DEBUG:-true} $(PY) manage.py seed_demo
	$(PY) manage.py rollup -v0  # the demo's weeks of events, ready on the dashboards

run: seed
	DEBUG=$${DEBUG:-true} $(PY) -m config.runall --host $(HOST) --port $(PORT)

test: install
	$(PY) -m pytest $(PYTEST_ARGS)

e2e: install
	$(PY) -m pytest -m e2e $(PYTEST_ARGS)

lint: install
	$(PY) -m ruff format --check .
	$(PY) -m ruff check .
	$(PY) manage.py makemigrations --check --dry-run

fmt: install
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

bench-fanout: install
	$(PY) -m bench.fanout.run $(BENCH_ARGS)

bench-advance: install
	$(PY) bench/advance/run.py $(BENCH_ARGS)

bench-analytics: install
	$(PY) bench/analytics/run.py $(BENCH_ARGS)

bench-sync: install
	$(PY) -m bench.sync.run $(BENCH_ARGS)

clean:
	rm -rf var/broker var/celerybeat-schedule*
