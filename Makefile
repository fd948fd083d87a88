# prunebench: `make demo` and `make test` work on a fresh machine (they create .venv themselves).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
RAY    := $(VENV)/.ray-stamp

.PHONY: demo test test-fast bench clean

# torch first, pinned: on these machines `torch==2.13.0` is a local CPU wheel, and installing it before
# anything else keeps pip from pulling a CUDA build to satisfy another package's range.
$(STAMP): requirements/lock.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check torch==2.13.0
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements/lock.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $@

# The Ray extra is only needed by its tests (and by users of --executor ray).
$(RAY): $(STAMP) requirements/lock-ray.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements/lock-ray.txt
	touch $@

# The quickstart study (resumes if interrupted), then its report; the last line printed is report.html.
demo: $(STAMP)
	$(BIN)/prunebench run studies/quickstart.yaml --workers 2 --out runs/quickstart
	@echo "report:"
	@$(BIN)/prunebench report runs/quickstart

test: $(RAY)
	$(BIN)/python -m pytest -q

test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow"

bench: $(STAMP)
	for f in bench/*.py; do echo "== $$f"; $(BIN)/python $$f || exit 1; done

clean:
	rm -rf $(VENV) runs .pytest_cache
