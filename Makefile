# One command per routine. `make run` and `make test` work on a fresh machine with no configuration.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test lint bench install clean vectors

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# CPU torch first, or sentence-transformers pulls a multi-GB CUDA build
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/legalbot serve

# Two workers on the two cores (pytest-xdist); a test file stays on one worker, with its module fixtures.
TEST_WORKERS ?= 2
test: $(STAMP)
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python -m bench.retrieval
	$(BIN)/python -m bench.nlu
	$(BIN)/python -m bench.urgency
	$(BIN)/python -m bench.load --db sqlite --workers 1 --citizens 50 --seconds 30 --write
	$(BIN)/python -m bench.load --db postgres --workers 2 --citizens 50 --seconds 30 --write
	$(BIN)/python -m bench.reports --conversations 200000 --days 365 --runs 20 --write

vectors: $(STAMP)  # refresh nlu/e5-query-seed.npz after changing training_data/urgency.yml (optional: speeds up fresh clones)
	$(BIN)/python -m nlu.semantic

clean:
	rm -rf var .pytest_cache
