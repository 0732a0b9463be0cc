# Two commands do everything on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
export DAGSTER_HOME ?= $(CURDIR)/.dagster_home

.PHONY: run test ui lint bench bench-ab bench-ab-loader bench-ab-checks bench-tests bench-warnings bench-national docs clean

# The virtual environment, from the pinned dependencies in requirements.lock, installed by uv (pinned
# there too), faster than pip. Compiled to bytecode as pip does: with PYTHONDONTWRITEBYTECODE set, as on
# CI, every dbt and Dagster process would otherwise compile its imports again. The machine's pip puts
# uv in it (a pip of the venv's own costs seconds to install and compile, and uv does the rest; where
# the machine's Python has no pip recent enough to install elsewhere, the venv gets one). pip says
# errors alone: its warnings are about the machine's own pip configuration.
$(INSTALLED): pyproject.toml requirements.lock
	@echo "creating $(VENV) from requirements.lock …"
	$(PYTHON) -m venv --without-pip $(VENV)
	PIP="$(PYTHON) -m pip --python $(BIN)/python"; $$PIP --version >/dev/null 2>&1 \
		|| { $(BIN)/python -m ensurepip --default-pip >/dev/null && PIP=$(BIN)/pip; }; \
		$$PIP install --quiet --quiet --disable-pip-version-check -c requirements.lock uv
	$(BIN)/uv pip install --quiet --compile-bytecode --python $(BIN)/python -c requirements.lock -e '.[dev]'
	touch $@

# The project-local Dagster instance: its folder, with this project's dagster.yaml.
$(DAGSTER_HOME)/dagster.yaml: dagster.yaml
	mkdir -p $(DAGSTER_HOME) && cp dagster.yaml $@

# The headless browser of the report's test: Debian's chromium and its driver, installed when missing
# and a Chinese font (as root, which CI is); elsewhere, say what to install (the test then fails, saying so).
BROWSER_DRIVER := /usr/bin/chromedriver
$(BROWSER_DRIVER):
	@if command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
		echo "installing chromium and chromium-driver for the browser test …"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver fonts-wqy-microhei >/dev/null; \
	else echo "no chromium-driver: install Debian's chromium and chromium-driver for the browser test"; fi

run: $(INSTALLED) $(DAGSTER_HOME)/dagster.yaml  ## generate the sample if raw/ is empty, materialise every year, print the counts
	$(BIN)/jingtu run

# The virtual environment and the browser are installed side by side: both mostly wait on downloads and
# the disk.
test:  ## the test suite, on two workers (a file's tests share one)
	@$(MAKE) -s --no-print-directory -j2 $(INSTALLED) $(BROWSER_DRIVER) $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/pytest -n 2 --dist loadfile --no-loadscope-reorder

# The code location `jingtu`, described in DAGSTER_HOME: `dagster dev` runs from there, since it warns
# about a dagster.yaml in its working folder that is not DAGSTER_HOME's.
$(DAGSTER_HOME)/workspace.yaml: Makefile
	mkdir -p $(DAGSTER_HOME)
	printf 'load_from:\n  - python_module:\n      module_name: orchestration.definitions\n      location_name: jingtu\n      working_directory: %s\n' "$(CURDIR)" > $@

UI_PORT ?= 3000
ui: $(INSTALLED) $(DAGSTER_HOME)/dagster.yaml $(DAGSTER_HOME)/workspace.yaml  ## the Dagster UI on http://127.0.0.1:3000 (UI_PORT)
	cd $(DAGSTER_HOME) && PYTHONWARNINGS="ignore:Function \`dev_command\` is superseded" \
		$(CURDIR)/$(BIN)/dagster dev -w workspace.yaml -p $(UI_PORT)

lint: $(INSTALLED)  ## ruff on the code, the tests and the benchmarks
	$(BIN)/ruff check orchestration tests bench

bench: $(INSTALLED)  ## ingest, validation, pipeline, grade-confidence and portrait benchmarks (1× and 17×); results in bench/results/
	$(BIN)/python bench/ingest_bench.py
	$(BIN)/python bench/pipeline_bench.py --scales 1,17
	$(BIN)/python bench/confidence_bench.py
	$(BIN)/python bench/report_bench.py

# A/B of two revisions, alternating on the pipeline benchmark's data: make bench-ab A=<before> B=<after> [SCALE=17]
A ?= HEAD~1
B ?= HEAD
SCALE ?= 1
bench-ab: $(INSTALLED)  ## jingtu materialize with revision A, then B, in turn, four rounds (bench/results/ab.md)
	$(BIN)/python bench/ab_bench.py $(A) $(B) --scale $(SCALE)

bench-ab-loader: $(INSTALLED)  ## the hotline year 2018 at 17× loaded by revision A's loader, then B's, in turn, three rounds (bench/results/ab_loader.md)
	$(BIN)/python bench/ab_bench.py $(A) $(B) --loader

bench-ab-checks: $(INSTALLED)  ## every raw suite of the pipeline benchmark's warehouse validated by revision A, then B, in turn, three rounds of two (bench/results/ab_checks_<SCALE>x.md)
	$(BIN)/python bench/ab_bench.py $(A) $(B) --checks --scale $(SCALE)

bench-warnings: $(INSTALLED)  ## the early warnings' false-alarm rate and detection power, 183 units × 48 months (bench/results/warnings.md)
	$(BIN)/python bench/warnings_bench.py

bench-tests: $(INSTALLED)  ## make test on a clean clone of the committed tree, as CI runs it (bench/results/test_suite.md)
	$(BIN)/python bench/test_suite_bench.py

# Polars is left out at this scale: it held 4.2 GiB at 17× and has no memory cap, so ten times the data would
# outgrow the machine's memory; pandas runs under its cap and fails, which the result records.
bench-national: $(INSTALLED)  ## 100 million tickets, 2,800 units; not part of the tests; about 35 GiB of disk: 16 GiB of CSV, a 7.2 GiB warehouse peak, the DuckDB scripts' spill files and (f)'s 4.3 GiB of kept tickets (bench/results/national.md)
	$(BIN)/python bench/pipeline_bench.py --scales national --skip incremental,polars

clean:  ## delete warehouse/ (serving file, quality report, portraits, docs), .dagster_home/, dbt's target/ and bench/work/; raw/ and .venv/ stay
	rm -rf warehouse .dagster_home dbt_project/target bench/work

docs: $(INSTALLED)  ## the documentation pages, which open offline and while a run goes on (jingtu site)
	$(BIN)/jingtu site
