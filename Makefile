# Two commands set everything up: `make demo` (the main job) and `make test`.
# torch is pinned and installed first: on these machines torch==2.13.0 is a CPU build
# on local disk, while an unpinned torch pulls a multi-GB CUDA build.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test venv clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[dev,ray]'
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/fusiongym demo

test: $(STAMP)
	$(PY) -m pytest

clean:
	rm -rf $(VENV) runs/demo
