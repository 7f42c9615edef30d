# Everything runs in .venv/ in the repository root; `make test` and `make demo` create it.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install test demo clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip
	# The pinned CPU build first (it lies on local disk): a bare range would pull a multi-GB CUDA build.
	$(PY) -m pip install torch==2.13.0
	@echo "Installing agentloop with the [local] extra: the first install compiles llama-cpp-python (~7 min on 2 cores; pip keeps the built wheel in its cache, so later installs take seconds)."
	$(PY) -m pip install -e '.[dev,learn,local]'
	touch $(STAMP)

install: $(STAMP)

test: $(STAMP)
	$(PY) -m pytest

demo: $(STAMP)
	$(VENV)/bin/agentloop demo --out runs/demo

clean:
	rm -rf $(VENV) .pytest_cache
