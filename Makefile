# Two commands do everything on a fresh machine: `make demo` and `make test`.
# Each creates the virtual environment it needs.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
EXTRAS ?= dev,report

.PHONY: demo test lint gpu-test clean

$(VENV)/.installed-$(EXTRAS): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[$(EXTRAS)]'
	touch $@

demo: $(VENV)/.installed-$(EXTRAS)
	$(VENV)/bin/lassi-ee demo

lint: $(VENV)/.installed-$(EXTRAS)
	$(PY) -m ruff check lassi_ee tests benchmarks
	$(PY) -m ruff format --check lassi_ee tests benchmarks
	$(PY) -m mypy

test: lint
	$(PY) -m pytest -q

gpu-test: $(VENV)/.installed-$(EXTRAS)
	$(PY) -m pytest -q -m gpu

clean:
	rm -rf $(VENV) build *.egg-info
