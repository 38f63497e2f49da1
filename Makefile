# Two commands for a fresh machine: `make demo` and `make test`. Each builds .venv first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lessons notebooks bench clean clean-cache

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip setuptools wheel
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m minidl demo

# One BLAS thread per process: the test matrices are small, and on a 2-core machine extra
# threads only fight each other (and Numba's) for the cores. Every MPI job the tests launch has
# its own timeout, and the whole run is capped as well (TEST_TIMEOUT seconds, where coreutils'
# timeout exists), so a hang fails instead of stalling CI.
TEST_TIMEOUT ?= 2400
TIMEOUT := $(shell command -v timeout >/dev/null 2>&1 && echo timeout --kill-after=60 $(TEST_TIMEOUT))
test: $(STAMP)
	OPENBLAS_NUM_THREADS=1 $(TIMEOUT) $(BIN)/python -m pytest -q

# Each lesson as a Jupyter notebook beside its script (lessons/NN_*.ipynb, not committed): the
# scripts are jupytext "percent" files, so the notebook's cells are the script's.
$(VENV)/.notebooks: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[notebooks]'
	touch $@

notebooks: $(VENV)/.notebooks
	$(BIN)/jupytext --to ipynb --set-kernel python3 lessons/[0-9][0-9]_*.py

clean: clean-cache
	rm -rf $(VENV) .pytest_cache .hypothesis build *.egg-info

# Numba's compiled kernels: it recompiles a kernel when its own file changes, not when a helper
# it calls from another file does.
clean-cache:
	find . -path ./$(VENV) -prune -o \( -name '*.nbi' -o -name '*.nbc' \) -exec rm -f {} +
