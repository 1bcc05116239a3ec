# Two commands set everything up on a fresh machine: `make serve` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml constraints.txt eval/requirements-ragas.txt | sha1sum | cut -c1-12)

export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export ANONYMIZED_TELEMETRY := False
export RAGAS_DO_NOT_TRACK := true
export TOKENIZERS_PARALLELISM := false

.PHONY: install serve test lint bench eval clean

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt eval/requirements-ragas.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# torch first, pinned, so the CPU wheel is used and no CUDA packages are pulled in.
	$(BIN)/python -m pip install -q -c constraints.txt torch==2.13.0
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[dev,st]'
	# ragas for the eval harness: its dependencies pinned, then ragas + instructor without theirs
	# (instructor wants jiter<0.15 and rich<15; we pin openai's jiter 0.19 and rich 15). See the file.
	$(BIN)/python -m pip install -q -c constraints.txt -r eval/requirements-ragas.txt
	$(BIN)/python -m pip install -q --no-deps ragas==0.4.3 instructor==1.17.0
	rm -f $(VENV)/.installed-*
	touch $@

serve: install
	$(BIN)/crm-copilot demo init
	$(BIN)/crm-copilot serve --host 127.0.0.1 --port 8000

test: install lint
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
