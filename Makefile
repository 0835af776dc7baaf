# agenda — the two commands: `make run` (demo service) and `make test` (whole suite).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 5000
# The suite runs on every core (pytest-xdist; one database per worker on PostgreSQL).
PYTEST_ARGS ?= -n auto
export AGENDA_INSTANCE_PATH ?= $(CURDIR)/instance

.PHONY: run test lint venv venv-test system-deps migrate demo i18n bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# Reinstall when pyproject.toml changes.
$(VENV)/.installed-run: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[demo,postgres]'
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test,demo,postgres]'
	touch $@ $(VENV)/.installed-run

venv: $(VENV)/.installed-run
venv-test: $(VENV)/.installed-test

migrate: venv
	$(BIN)/flask --app agenda db upgrade

## make run: set up, migrate, load the demo into an empty database, start everything.
run: venv migrate
	@$(BIN)/flask --app agenda demo --save-logins
	@HOST=$(HOST) PORT=$(PORT) scripts/run.sh

## make test: set up the test environment and run the whole suite.
test: venv-test system-deps
	$(BIN)/python -m pytest $(PYTEST_ARGS)

system-deps:
	@scripts/system-deps.sh

lint: venv-test
	$(BIN)/ruff check agenda tests bench

i18n: venv
	$(BIN)/pybabel extract -F babel.cfg -k _l -o agenda/translations/messages.pot .
	$(BIN)/pybabel update -i agenda/translations/messages.pot -d agenda/translations
	$(BIN)/pybabel compile -d agenda/translations

bench: venv-test
	$(BIN)/python bench/booking.py
	$(BIN)/python bench/coverage.py
	$(BIN)/python bench/sync.py
	$(BIN)/python bench/login_timing.py
	$(BIN)/python bench/department.py

clean:
	rm -rf $(VENV) instance .pytest_cache
