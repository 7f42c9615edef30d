# Everything runs in .venv/ in the repository root; `make test` and `make demo` create it.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

# The embedded model's engine. It is compiled here (no prebuilt wheel fits), once per machine
# kind: the wheel is kept in WHEELS and reused by every later install.
LLAMA := llama-cpp-python==0.3.36
ARCH := $(shell uname -m)
PYTAG := $(shell $(PYTHON) -c 'import sys; print("cp%d%d" % sys.version_info[:2])')
WHEELS := $(HOME)/.cache/agentloop/wheels/llama-cpp-0.3.36-portable-$(ARCH)-$(PYTAG)
# On x86-64 a portable AVX2 build, not llama.cpp's default -march=native: a native build on a
# CPU that advertises AMX or AVX-512 runs those kernels, and a virtual machine that does not
# enable them crashes at the first token; results would also depend on the build machine.
LLAMA_CMAKE_x86_64 := -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON
LLAMA_CMAKE := $(LLAMA_CMAKE_$(ARCH))

.PHONY: install test demo clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip
	# The pinned CPU build first (it lies on local disk): a bare range would pull a multi-GB CUDA build.
	$(PY) -m pip install torch==2.13.0
	@if ls $(WHEELS)/llama_cpp_python-*.whl >/dev/null 2>&1; then \
		echo "Using the llama-cpp-python wheel built earlier on this machine ($(WHEELS))."; \
	else \
		echo "Compiling llama-cpp-python for the embedded model (~7 min on 2 cores, once per machine; pip prints 'still running...' while it works)."; \
		CMAKE_ARGS="$(LLAMA_CMAKE)" $(PY) -m pip wheel --no-cache-dir --no-deps -w $(WHEELS) $(LLAMA); \
	fi
	$(PY) -m pip install $(WHEELS)/llama_cpp_python-*.whl
	$(PY) -m pip install -e '.[dev,learn,local,inspect,gym,arena,ray]'
	touch $(STAMP)

install: $(STAMP)

test: $(STAMP)
	$(PY) -m pytest

demo: $(STAMP)
	$(VENV)/bin/agentloop demo --out runs/demo

clean:
	rm -rf $(VENV) .pytest_cache

# Mutation testing of the core (docs/testing.md); not part of `make test`. mutmut is installed
# into .venv on first use; results are kept in mutants/. `make mutation` estimates the score
# from a random SAMPLE of every module's mutants (default 5%, SEED 1: about an hour on 2 cores)
# and prints it with its 95% interval; SAMPLE=1 tests every mutant (days on 2 cores).
# MODULES limits it (e.g. MODULES="tape conditions"); CHILDREN=2 by default.
.PHONY: mutation
mutation:
	@test -f $(STAMP) || $(MAKE) install
	$(PY) tools/mutation.py --children $(or $(CHILDREN),2) --sample $(or $(SAMPLE),0.05) --seed $(or $(SEED),1) $(MODULES)
