# promptkit: `make demo` runs the main job, `make test` the test suite. Both create or reuse .venv.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.promptkit-installed

.PHONY: demo tour test test-slow lint bench zoo install clean

$(STAMP): pyproject.toml setup.py
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[dev,plot]"
	@touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" bash scripts/demo.sh

tour: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" bash scripts/tour.sh

test: $(STAMP)
	$(BIN)/python -m pytest -q

test-slow: $(STAMP)
	$(BIN)/python -m pytest -q -m slow

lint: $(STAMP)
	$(BIN)/ruff check promptkit cli registry tests benchmarks scripts zoobuild

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_registry.py

# The zoo's build tooling (zoobuild/) is not installed: it runs from the repository root.
zoo: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m zoobuild.build

clean:
	rm -rf $(VENV) runs build dist *.egg-info
