# venalab: the two commands a fresh machine needs are `make run` and `make test`.
SHELL := /bin/bash
VENV  := .venv
PY    := $(VENV)/bin/python
UV    := python3 -m uv
STAMP := $(VENV)/.installed

.PHONY: run test test-fast install sysdeps lint typecheck unit bench codes catalogue clean

$(STAMP): pyproject.toml
	@$(UV) --version >/dev/null 2>&1 || python3 -m pip install --quiet uv
	$(UV) venv --quiet --allow-existing --python python3 $(VENV)
	$(UV) pip install --quiet --python $(PY) -e ".[dev]"
	@touch $(STAMP)

install: $(STAMP)

## run: web app on 127.0.0.1:8000 (SQLite in var/, example exams), DICOM SR receiver on 11112, HL7 orders on 2575
run: $(STAMP)
	$(VENV)/bin/venalab serve --host 127.0.0.1 --port 8000 --dicom-port 11112 --hl7-port 2575

## test: Debian packages the tests use, lint, type-check and the full test suite
test: $(STAMP) sysdeps lint typecheck unit

sysdeps:
	./scripts/system-deps.sh

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks tools

typecheck: $(STAMP)
	$(VENV)/bin/mypy src/venalab

unit: $(STAMP)
	$(PY) tools/gen_vein_codes.py --check || (echo "src/venalab/_vein_codes.py is stale: run make codes" && false)
	$(PY) tools/gen_rule_catalogue.py --check || (echo "docs/rules.md is stale: run make catalogue" && false)
	$(PY) -m pytest

## test-fast: lint, type-check and the tests without the slow, db and browser markers
test-fast: $(STAMP) lint typecheck
	$(PY) -m pytest -m "not slow and not db and not browser"

bench: $(STAMP)
	$(PY) benchmarks/bench_assess.py
	$(PY) benchmarks/bench_reports.py
	$(PY) benchmarks/bench_cohort.py

## codes: regenerate the vein code table from pydicom's DICOM dictionaries
codes: $(STAMP)
	$(PY) tools/gen_vein_codes.py

## catalogue: regenerate docs/rules.md (the rule catalogue) from the data files
catalogue: $(STAMP)
	$(PY) tools/gen_rule_catalogue.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis
