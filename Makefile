# Quick start: `make demo` and `make test`. Both set everything up first (idempotent).
PY      := .venv/bin/python
PIP     := .venv/bin/pip
STAMP   := .venv/.nsc-installed
EXT     := $(wildcard runtime/nsc_runtime/_core*.so)

.PHONY: setup demo test lint typecheck bench clean

setup: $(STAMP) runtime/nsc_runtime/.built

$(STAMP): pyproject.toml setup.py
	test -x $(PY) || python3 -m venv .venv
	$(PIP) install -q "torch==2.13.0" "cython>=3.0" "setuptools>=69" wheel
	$(PIP) install -q -e ".[test,demo,mpi]"
	touch $(STAMP)

# Rebuild the Cython extension whenever its source changes (an editable install does not).
runtime/nsc_runtime/.built: $(STAMP) runtime/nsc_runtime/_core.pyx setup.py
	$(PY) setup.py -q build_ext --inplace
	touch $@

demo: setup
	$(PY) -m nsc.cli demo trec --config paper --out reports/trec-paper

lint: setup
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .

typecheck: setup
	.venv/bin/mypy

test: setup lint typecheck
	$(PY) -m pytest -p no:cacheprovider tests

bench: setup
	$(PY) benchmarks/runtime_chip.py
	$(PY) benchmarks/place_scale.py

clean:
	rm -rf build .venv runtime/nsc_runtime/_core*.so runtime/nsc_runtime/_core.c runtime/nsc_runtime/.built
