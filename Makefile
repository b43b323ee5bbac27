# The README's two commands: `make demo` and `make test`. Each installs what it needs into .venv.
VENV ?= .venv
PY := $(VENV)/bin/python
AIRFLOW_VERSION ?= 3.3.2
PYTEST_ARGS ?=

.PHONY: install check test test-unit test-integration demo airflow benchmark benchmark-quick clean

$(VENV)/.installed-airflow-provider-customerio: pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q "apache-airflow==$(AIRFLOW_VERSION)" -e ".[test,lint]"
	touch $@

install: $(VENV)/.installed-airflow-provider-customerio

# Lint (ruff), format check and types (mypy: strict on hooks/, sync/, triggers/); `make test` runs it first.
check: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy airflow_provider_customerio

# pytest exits 5 when it collects nothing; that is reported, not hidden as a pass.
test: install check
	@$(PY) -m pytest -q -p no:cacheprovider $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests"; fi; exit $$rc

test-unit: install
	$(PY) -m pytest -q -p no:cacheprovider tests/unit $(PYTEST_ARGS)

test-integration: install
	$(PY) -m pytest -q -p no:cacheprovider tests/integration $(PYTEST_ARGS)

demo: install
	$(PY) scripts/demo.py

airflow: install
	$(PY) scripts/demo.py --standalone

# Full scale (1M people; about 1.6 h: the vendors' limits) writes the committed figures and report
# (benchmarks/results/results.json, benchmarks/RESULTS.md); run_all.py --only PART merges one part into them.
benchmark: install
	$(PY) benchmarks/run_all.py --merge-into benchmarks/results/results.json --results benchmarks/RESULTS.md

# Every part at small scale (about 7 minutes); the report goes to benchmarks/out/report.md.
benchmark-quick: install
	$(PY) benchmarks/run_all.py --quick

clean:
	rm -rf .demo .pytest_cache build *.egg-info
