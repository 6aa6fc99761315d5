# Two commands on a fresh machine: `make render` and `make test`. Both bootstrap .venv from pyproject.toml.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
JOBS ?=
BASE ?= $(shell git rev-parse --verify -q origin/main >/dev/null && echo origin/main || echo main)

.PHONY: help venv render check diff test lint bench schemas crd-schemas clean

help:
	@echo "make render   render every Flux Kustomization of the clusters into rendered/<cluster>/<ns>/<name>.yaml"
	@echo "make check    render and validate (schemas, secret hygiene, Mastodon policy)"
	@echo "make diff     rendered diff against BASE (default: $(BASE)); DIFF_ARGS='-o markdown' etc."
	@echo "make test     lint, type-check and run the test suite"
	@echo "make bench    performance ratios against baselines measured in the same run"
	@echo "make schemas  regenerate the committed Kubernetes JSON schemas"
	@echo "make crd-schemas CRDS='files or dirs'  convert CRDs into the catalog schemas/crds (see its SOURCES.md)"

# The venv is rebuilt when pyproject.toml changes (stale) or when it is missing.
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@# An editable install compiles nothing; under PYTHONDONTWRITEBYTECODE every run would compile every module.
	$(BIN)/python -m compileall -q tools/gitops >/dev/null
	@touch $@

venv: $(STAMP)

render: $(STAMP)
	$(BIN)/gitops render $(if $(JOBS),-j $(JOBS))

check: $(STAMP)
	$(BIN)/gitops check

# Exit 1 means "there are changes", which is not a failure of `make diff`; 2 (an error) is.
diff: $(STAMP)
	$(BIN)/gitops diff --base $(BASE) $(DIFF_ARGS) || test $$? -eq 1

lint: $(STAMP)
	$(BIN)/ruff check tools tests
	$(BIN)/ruff format --check tools tests
	$(BIN)/mypy

test: lint
	$(BIN)/python -m pytest -n auto -q

bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev,schemas]'
	$(BIN)/python -m gitops.bench

schemas: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev,schemas]'
	$(BIN)/python -m gitops.schemagen

# CRDS: CustomResourceDefinition YAML files or directories; one schema per served version lands in schemas/crds.
crd-schemas: $(STAMP)
	@test -n "$(CRDS)" || { echo "make crd-schemas: set CRDS to CRD files or directories (schemas/crds/SOURCES.md)"; exit 2; }
	$(BIN)/python -m gitops.crd_schemagen $(CRDS) --out schemas/crds

clean:
	rm -rf $(VENV) rendered .bench
