# `make run`: venv + pinned install + database + demo data + serve on 127.0.0.1:5000.
# `make test`: venv + pinned install + lint (ruff) + types (mypy) + the whole test suite.
PY ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat requirements.lock pyproject.toml examples/*/pyproject.toml 2>/dev/null | cksum | cut -d' ' -f1)

.PHONY: run test lint bench install clean translations

$(STAMP):
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade "pip>=24"
	$(BIN)/python -m pip install -q -r requirements.lock
	$(BIN)/python -m pip install -q --no-deps --no-build-isolation -e . $(foreach d,$(wildcard examples/*/pyproject.toml),-e $(dir $(d)))
	@rm -f $(VENV)/.installed-*; touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/crm init-db
	$(BIN)/crm demo
	$(BIN)/crm serve

test: lint
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# Lint and types (configured in pyproject.toml); `make test` runs this first and stops on a failure.
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) instance .pytest_cache .mypy_cache .ruff_cache

# Re-extract marked strings and merge them into the zh_CN and en catalogues (then translate zh_CN).
translations: $(STAMP)
	$(BIN)/pybabel -q extract -F babel.cfg -k _ -k lazy_gettext -k _l -o crmcore/translations/messages.pot --no-location --sort-output --project crmcore .
	@for lang in zh_CN en; do \
	  if [ -f crmcore/translations/$$lang/LC_MESSAGES/messages.po ]; then \
	    $(BIN)/pybabel -q update --no-fuzzy-matching -i crmcore/translations/messages.pot -d crmcore/translations -l $$lang; \
	  else \
	    $(BIN)/pybabel -q init -i crmcore/translations/messages.pot -d crmcore/translations -l $$lang; \
	  fi; \
	done
