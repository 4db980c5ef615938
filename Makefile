# The two commands of the quick start: `make demo` and `make test`.
# Both create the virtual environment and install what they need on first use.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test lint typecheck layout pytest docs bench bench-quick schema clean golden screenshot chromium

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Clearline needs Python 3.11 or newer")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/clearline demo

test: lint typecheck docs pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# mypy cannot follow setuptools' editable finder for the package-dir mapping
# (engine/ -> clearline.engine), so it checks a tree of symlinks with the installed layout.
typecheck: $(STAMP) layout
	cd .typecheck && ../$(BIN)/mypy --config-file ../pyproject.toml -p clearline

# The installed layout as a tree of symlinks, read by mypy and by the docs' API reference.
layout:
	@rm -rf .typecheck && mkdir -p .typecheck/clearline
	@for f in clearline/*; do ln -s ../../$$f .typecheck/clearline/; done
	@ln -s ../../engine .typecheck/clearline/engine
	@ln -s ../../disclosures .typecheck/clearline/disclosures

# The docs site (MkDocs), built strictly to out/site: a broken link or reference fails it.
docs: $(STAMP) layout
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet

# Test modules run in parallel, each whole on one worker, so a module's shared start-up (a
# Spark session, a browser, a server process) is paid once.
pytest: $(STAMP) chromium
	$(BIN)/pytest -n auto --dist loadfile

# Rewrite tests/golden/ from the shipped policy; read `git diff tests/golden` before committing.
golden: $(STAMP)
	$(BIN)/python -m tests.regenerate_golden

# Render the golden HTML pages in headless Debian chromium to out/screenshots/ (not part of `make test`).
screenshot: $(STAMP) chromium
	scripts/screenshot.sh
	$(BIN)/clearline selfcheck policies/credit-line-closure/1.1.0.yaml --lang en -o out/selfcheck.en.html
	$(BIN)/python -m tests.selfcheck_screenshots out/selfcheck.en.html out/screenshots

# Debian's chromium and its driver for the browser tests (installed when missing; needs root).
chromium:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver fonts-noto-cjk)

bench: $(STAMP)
	$(BIN)/python -m benchmarks.run

bench-quick: $(STAMP)
	$(BIN)/python -m benchmarks.run --quick

clean:
	rm -rf $(VENV) .typecheck out clearline-audit.db* clearline-cases.db*
