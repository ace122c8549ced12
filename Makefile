# Two commands matter: `make run` and `make test`. Everything else is a step of them.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed

.PHONY: all venv stack-up stack-down stack-status run test test-unit lint bench chaos clean

all: venv

# Recreated whenever pyproject.toml changes; editable, so code changes need no reinstall.
$(INSTALLED): pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ is needed, found " + sys.version' 
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $@

venv: $(INSTALLED)

# RabbitMQ (Debian package, private node), FerretDB (built from the Go module proxy), devnet.
stack-up: venv
	$(PY) scripts/stack.py up

stack-down: venv
	$(PY) scripts/stack.py down

stack-status: venv
	$(PY) scripts/stack.py status

# A development master key for the keystore, made once, readable by this user only.
DEV_KEYS := .stack/dev-master-keys.json
$(DEV_KEYS): | venv
	mkdir -p .stack
	umask 077 && $(PY) -c 'import json; from worker.keystore import generate_master_key as g; print(json.dumps({"local-dev": g()}))' > $@

run: stack-up $(DEV_KEYS)
	TRON_WORKER_KEYSTORE__MASTER_KEYS_FILE=$${TRON_WORKER_KEYSTORE__MASTER_KEYS_FILE:-$(CURDIR)/$(DEV_KEYS)} \
		$(VENV)/bin/tron-worker run

test: stack-up
	$(PY) -m pytest

test-unit: venv
	$(PY) -m pytest tests/unit

# Ceilings, the naive loop, 1 and 2 worker processes and a py-spy profile in one run
# (5-10 min): prints the table, writes docs/performance.md and .png. BENCH_ARGS=--quick
# is a 1-2 min smoke run (written under .stack/bench/).
bench: stack-up
	$(PY) bench/performance.py $(BENCH_ARGS)

# The full chaos audit (tests/chaos/harness.py: 1,000 commands, 20 SIGKILLs, broker,
# database and node outages) on a private stack; writes docs/reliability.md. Replay a
# run with CHAOS_ARGS="--seed N".
chaos: stack-up
	$(PY) -m tests.chaos.harness --report docs/reliability.md $(CHAOS_ARGS)

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

clean: stack-down
	rm -rf $(VENV) .stack
