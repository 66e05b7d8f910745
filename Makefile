# Locker desk. `make run` starts the demo on http://127.0.0.1:5000, `make test` runs every test.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export FLASK_APP := wsgi.py

.PHONY: run test test-fast lint translations extract-messages system-packages browser-packages bench clean

run: $(VENV)/.installed translations system-packages
	$(BIN)/flask db upgrade
	$(BIN)/flask seed
	$(BIN)/flask demo-data --if-empty
	$(BIN)/flask serve

# Two processes: one takes the PostgreSQL tests, the other the MariaDB ones, and both share
# the SQLite ones (tests/conftest.py schedules them so); on two cores this halves the wait.
PARALLEL := --numprocesses 2

test: $(VENV)/.installed-tests translations system-packages browser-packages
	$(BIN)/ruff check .
	$(BIN)/python -m pytest $(PARALLEL)

# The tier to run while working: SQLite only, no browser, no multi-process races (about a minute).
test-fast: $(VENV)/.installed-tests translations system-packages
	$(BIN)/ruff check .
	TEST_DATABASES=sqlite $(BIN)/python -m pytest $(PARALLEL) -m "not race and not browser and not slow"

lint: $(VENV)/.installed-tests
	$(BIN)/ruff check .

$(VENV)/.installed: requirements.txt requirements-no-deps.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps -r requirements-no-deps.txt
	touch $@

$(VENV)/.installed-tests: $(VENV)/.installed tests/requirements.txt
	$(BIN)/python -m pip install --quiet -r tests/requirements.txt
	touch $@

# Compiled catalogs (.mo) are build output; the .po files are the source.
translations: $(VENV)/.installed
	@for po in translations/*/LC_MESSAGES/*.po; do \
		$(BIN)/pybabel compile --use-fuzzy -i $$po -o $${po%.po}.mo -l $$(basename $$(dirname $$(dirname $$po))) -D $$(basename $$po .po) >/dev/null || exit 1; \
	done

# After adding strings: refresh messages.pot and merge it into every catalog.
extract-messages: $(VENV)/.installed
	$(BIN)/pybabel extract -F translations/babel.cfg -k _l -k lazy_gettext --no-location --sort-output -o translations/messages.pot .
	$(BIN)/pybabel update -D messages -i translations/messages.pot -d translations --no-fuzzy-matching

# Pango/HarfBuzz for WeasyPrint PDFs and a Bengali font, from Debian.
system-packages:
	@$(BIN)/python -c "import ctypes.util, sys; sys.exit(0 if ctypes.util.find_library(\"pango-1.0\") else 1)" 2>/dev/null && fc-list | grep -q NotoSansBengali && command -v pdftotext >/dev/null \
		|| $(MAKE) --no-print-directory apt PACKAGES="libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz0b fonts-noto-core fontconfig poppler-utils"

# Debian Chromium for the browser tests (Playwright cannot download its own here).
browser-packages:
	@test -x /usr/bin/chromium || $(MAKE) --no-print-directory apt PACKAGES="chromium"

apt:
	@echo "Installing Debian packages: $(PACKAGES)"
	$(if $(filter 0,$(shell id -u)),,sudo) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $(if $(filter 0,$(shell id -u)),,sudo) apt-get install -y -qq $(PACKAGES)

# Performance figures (bench/README.md). bench/chain.py builds the chain data set once per
# database (cached) and measures every key page against Django's stock admin; bench/load.py
# puts 20 desk users on the app for 60 s; the others build their own demo databases.
bench: $(VENV)/.installed-tests translations browser-packages
	$(BIN)/python -m pip install --quiet -r bench/peer/requirements.txt
	$(BIN)/python bench/chain.py
	$(BIN)/python bench/load.py
	$(BIN)/python bench/exports.py
	$(BIN)/python bench/dashboard.py
	$(BIN)/python bench/reports.py
	$(BIN)/python bench/imports.py
	$(BIN)/python bench/quick_search.py
	$(BIN)/python bench/documents.py
	$(BIN)/python bench/reminders.py
	REDIS_URL=redis://127.0.0.1:6379/11 $(BIN)/python bench/grid.py

clean:
	rm -rf $(VENV) instance .pytest_cache .ruff_cache
