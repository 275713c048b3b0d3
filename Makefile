# LR Arena: `make run` starts everything, `make test` runs every test.
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cksum requirements.txt | cut -d' ' -f1)

.PHONY: run test test-fast venv bench lint clean

$(STAMP): requirements.txt
	@command -v $(PYTHON) >/dev/null || { echo "LR Arena needs $(PYTHON) (set PYTHON=... to use another)"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	rm -f $(VENV)/.installed-* && touch $(STAMP)

venv: $(STAMP)

run: venv
	$(PY) manage.py runstack

test: venv
	bash scripts/ensure-system-deps.sh redis chromium postgresql
	$(PY) -m pytest

# Unit tests only: no Redis, no browser.
test-fast: venv
	$(PY) -m pytest tests/unit

bench: venv
	for script in bench/bench_*.py; do $(PY) $$script || exit 1; done

lint: venv
	$(PY) -m ruff check .

clean:
	rm -rf $(VENV) var staticfiles test-artifacts .pytest_cache
