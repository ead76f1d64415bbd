# jinbao-net. `make help` lists the targets.
SHELL := /bin/bash
VENV ?= .venv
BIN := $(VENV)/bin
PYTHON ?= python3

.PHONY: help setup lab test lint unit bench national clean

help:  ## this list
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(BIN)/jinbao: pyproject.toml
	@command -v dot >/dev/null || { echo "installing graphviz"; apt-get update -qq && apt-get install -y -qq graphviz >/dev/null; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

setup: $(BIN)/jinbao  ## Python venv with the pinned dependencies (and graphviz)

lab: setup  ## check the lab inventory end to end: validate, plan --check, render, inventory, diagram
	$(BIN)/jinbao validate inventories/lab
	$(BIN)/jinbao plan inventories/lab --check
	$(BIN)/jinbao render inventories/lab
	PATH=$(BIN):$$PATH $(BIN)/ansible-inventory -i inventories/lab --graph
	$(BIN)/jinbao diagram inventories/lab

lint: setup  ## ruff, yamllint, ansible-lint (production profile)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/yamllint --strict .
	PATH=$(BIN):$$PATH $(BIN)/ansible-lint

unit: setup  ## unit and golden tests (no containers)
	$(BIN)/pytest tests/unit

test: lint unit  ## everything CI runs

national: setup  ## generate the national inventory (31 provinces, ~38,500 townships)
	$(BIN)/jinbao generate inventories/national

bench: setup  ## national validate+allocate+render, +1 township, ansible comparison (prints figures)
	PATH=$(BIN):$$PATH $(BIN)/python tests/bench/bench_national.py

clean:  ## remove build output and caches (not the venv)
	rm -rf build inventories/*/.cache .pytest_cache
