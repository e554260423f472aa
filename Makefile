# Two commands do everything on a fresh machine: `make demo` and `make test`.
# Each creates the virtual environment it needs. `make test-fast` is for day-to-day work:
# the unit tests alone, in a few minutes.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
TEST_EXTRAS := dev,report,studio,postgres,ray
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: demo test test-fast lint gpu-test test-realllm local-llm system-deps clean

$(VENV)/.installed-%: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[$*]'
	touch $@

demo: $(VENV)/.installed-report
	$(VENV)/bin/lassi-ee demo

# A real small code model served on 127.0.0.1 (benchmarks/local_llm.sh): fetched, checked
# and built into .cache/local-llm once, then served until Ctrl-C.
local-llm: $(VENV)/.installed-report
	LASSI=$(VENV)/bin/lassi-ee benchmarks/local_llm.sh all

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

# The real local model drives whole trials (tens of minutes on 2 cores); needs `make local-llm`.
test-realllm: $(VENV)/.installed-$(TEST_EXTRAS)
	$(PY) -m pytest -q -m realllm

clean:
	rm -rf $(VENV) build *.egg-info
