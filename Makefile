# Two commands matter: `make demo` and `make test`. Both set up .venv themselves.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DEMO_OUT ?= demo-out
PYTEST_WORKERS ?= 2

.PHONY: demo test lint typecheck venv bench fuzz clean record-demo

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,live]'
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/medsentry analyze src/medsentry/examples/hospital_demo.pcap --db sqlite:///$(DEMO_OUT)/medsentry.db --out $(DEMO_OUT)
	$(BIN)/medsentry devices --db sqlite:///$(DEMO_OUT)/medsentry.db

lint: $(STAMP)
	$(BIN)/ruff check src tests bench tools
	$(BIN)/ruff format --check src tests bench tools

typecheck: $(STAMP)
	$(BIN)/mypy

test: $(STAMP) lint typecheck
	$(BIN)/pytest -n $(PYTEST_WORKERS) --timeout=600 tests

# Benchmarks compare against peers on the same input and print the ratios; they take
# minutes and are not part of the tests. NFStream is installed for the comparison only.
bench: $(STAMP)
	$(BIN)/pip install --quiet nfstream || echo "NFStream did not install: compared without it"
	$(BIN)/python bench/run_flows_bench.py
	$(BIN)/python bench/bench_matching.py
	$(BIN)/python bench/bench_firmware_scan.py
	$(BIN)/python bench/bench_api.py

# Re-record the demo capture and the protocol fixtures with real software (needs root).
record-demo: $(STAMP)
	$(BIN)/python -m tools.record

fuzz: $(STAMP)
	$(BIN)/python -m pytest tests -m fuzz --hypothesis-profile=long

clean:
	rm -rf $(VENV) $(DEMO_OUT) .pytest_cache .mypy_cache .ruff_cache
