# jinbao-net. `make help` lists the targets.
SHELL := /bin/bash
VENV ?= .venv
BIN := $(VENV)/bin
PYTHON ?= python3

.PHONY: help setup check lab lab-down images molecule lab-test test lint unit pulumi bench bench-villages bench-lab bench-dr national clean

help:  ## this list
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(BIN)/jinbao: pyproject.toml
	@command -v dot >/dev/null || { echo "installing graphviz"; apt-get update -qq && apt-get install -y -qq graphviz >/dev/null; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	$(BIN)/python -m compileall -q network  # the bytecode a (non-editable) pip install writes
	touch $@

setup: $(BIN)/jinbao  ## Python venv with the pinned dependencies (and graphviz)

ENV ?= inventories/lab
ANSIBLE := PATH=$(abspath $(BIN)):$$PATH $(BIN)/ansible-playbook -i $(ENV)
ROLES_WITH_MOLECULE := $(patsubst roles/%/molecule/default/molecule.yml,%,$(wildcard roles/*/molecule/default/molecule.yml))
# The longest scenarios start first, so that two jobs end together (about 4, 5, 5 and 10 minutes)
MOLECULE_FIRST := postgresql_replication name_server pension_app pgbackrest
MOLECULE_ORDER := $(filter $(ROLES_WITH_MOLECULE),$(MOLECULE_FIRST)) $(filter-out $(MOLECULE_FIRST),$(ROLES_WITH_MOLECULE))

check: setup  ## the model end to end without containers: validate (zones.yml too), plan --check, capacity, render, zones, inventory, diagram
	$(BIN)/jinbao validate $(ENV)
	$(BIN)/jinbao plan $(ENV) --check
	$(BIN)/jinbao capacity $(ENV)
	$(BIN)/jinbao render $(ENV)
	@if [ -f $(ENV)/zones.yml ]; then $(BIN)/jinbao zones render $(ENV); fi
	PATH=$(BIN):$$PATH $(BIN)/ansible-inventory -i $(ENV) --graph
	$(BIN)/jinbao diagram $(ENV)

lab: check  ## bring the lab up as containers, converge every layer, verify it and print the verdict
	$(BIN)/jinbao lab up $(ENV)
	$(ANSIBLE) playbooks/site.yml
	$(BIN)/pytest --durations=15 tests/lab

lab-down:  ## remove the lab's containers, networks and keys (the image cache stays)
	$(BIN)/jinbao lab down $(ENV)

images: setup  ## build the lab images that are missing (cached by input digest)
	$(BIN)/jinbao lab images $(ENV)

MOLECULE_JOBS ?= 2
molecule: images  ## each role alone in a container (Molecule + testinfra), MOLECULE_JOBS scenarios at a time
	@mkdir -p build/molecule; printf '%s\n' $(MOLECULE_ORDER) | xargs -P $(MOLECULE_JOBS) -I{} sh -c '\
		started=$$(date +%s); \
		if (cd roles/{} && PATH=$(abspath $(BIN)):$$PATH molecule test) > build/molecule/{}.log 2>&1; \
		then echo "==> molecule: {} passed in $$(( $$(date +%s) - started )) s"; \
		else echo "==> molecule: {} FAILED (build/molecule/{}.log):"; tail -60 build/molecule/{}.log; exit 1; fi'

lint: setup  ## ruff, import-linter (the house's layers), yamllint, ansible-lint (production profile)
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/ruff format --check .
	$(BIN)/yamllint --strict .
	PATH=$(BIN):$$PATH $(BIN)/ansible-lint

unit: setup  ## unit and golden tests (no containers), on every core
	$(BIN)/pytest -n auto --durations=10 tests/unit

pulumi: setup  ## the DC and DR stacks under Pulumi mocks, the policy pack, stack outputs as inventory (no CLI)
	$(BIN)/pytest tests/pulumi

test: lint unit pulumi molecule lab  ## everything CI runs: lint, unit, Pulumi mocks, Molecule, the lab up and verified

national: setup  ## generate the national inventory (31 provinces, ~38,500 townships)
	$(BIN)/jinbao generate inventories/national

bench: setup  ## national validate+allocate+render, +1 township, ansible comparison, audit throughput, then the villages (prints figures)
	$(BIN)/python -m compileall -q network  # as installed: edits since setup compiled once, not by every run
	PATH=$(BIN):$$PATH $(BIN)/python tests/bench/bench_national.py
	PATH=$(BIN):$$PATH $(BIN)/python -W ignore::DeprecationWarning tests/bench/bench_audit.py 100 64
	PATH=$(BIN):$$PATH $(BIN)/python tests/bench/bench_villages.py

bench-villages: setup  ## the national inventory with its ~490,000 villages: generate, cold and warm plan+render, +1 village (prints figures)
	PATH=$(BIN):$$PATH $(BIN)/python tests/bench/bench_villages.py

bench-lab: setup  ## lab up (cold and warm image cache), converge, re-run; the application's writes/s, backup, restore (prints figures)
	PATH=$(BIN):$$PATH $(BIN)/python tests/bench/bench_lab.py $(ENV)
	PATH=$(BIN):$$PATH $(BIN)/python tests/bench/bench_business.py $(ENV)

bench-dr: setup  ## on a converged lab: 3 switchover and 3 failover drills; RTO min/median/max and lost writes (prints figures)
	PATH=$(BIN):$$PATH $(BIN)/python tests/bench/bench_dr.py $(ENV)

clean:  ## remove build output and caches (not the venv)
	rm -rf build inventories/*/.cache .pytest_cache
