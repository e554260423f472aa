# Two commands do everything on a fresh machine: `make demo` and `make test`.
# Each creates the virtual environment it needs. `make test-fast` is for day-to-day work:
# the unit tests alone, in a few minutes.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
TEST_EXTRAS := dev,report,studio,postgres,ray
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: demo test test-fast lint gpu-test system-deps clean

$(VENV)/.installed-%: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[$*]'
	touch $@

demo: $(VENV)/.installed-report
	$(VENV)/bin/lassi-ee demo

# Chromium renders the HTML reports in tests; PostgreSQL backs the shared-checkpoint tests.
system-deps:
	@command -v chromium >/dev/null 2>&1 || { $(SUDO) apt-get update -qq && \
		$(SUDO) apt-get install -y -qq chromium >/dev/null; }
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { $(SUDO) apt-get update -qq && \
		$(SUDO) apt-get install -y -qq postgresql >/dev/null; }

lint: $(VENV)/.installed-$(TEST_EXTRAS)
	$(PY) -m ruff check lassi_ee tests benchmarks
	$(PY) -m ruff format --check lassi_ee tests benchmarks
	$(PY) -m mypy

test: system-deps lint
	$(PY) -m pytest -q

# No whole trials, servers (PostgreSQL, Ray, langgraph dev), Chromium or GPU: see the markers
# in pyproject.toml.
test-fast: $(VENV)/.installed-$(TEST_EXTRAS)
	$(PY) -m pytest -q -m "not (trial or server or browser or gpu)"

gpu-test: $(VENV)/.installed-$(TEST_EXTRAS)
	$(PY) -m pytest -q -m gpu

clean:
	rm -rf $(VENV) build *.egg-info
