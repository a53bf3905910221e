# One multi-stage image recipe for every service: SERVICE picks the entry point and EXTRAS
# the pip extras, so the trainer image carries torch and the gateway image does not.
#   docker build -f infra/docker/service.Dockerfile --build-arg SERVICE=trainer \
#                --build-arg EXTRAS=trainer,export --build-arg LLAMA_CPP=0.3.36 .
# TORCH_INDEX: where torch comes from (CPU wheels by default; empty = PyPI's CUDA builds,
# for the GPU inference image). LLAMA_CPP: build llama-cpp-python from source (GGUF export)
# and unpack llama.cpp's converter where the export worker looks for it.
ARG PYTHON=3.11

FROM python:${PYTHON}-slim AS build
ARG EXTRAS
ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu
ARG LLAMA_CPP=""
WORKDIR /src
RUN if [ -n "${LLAMA_CPP}" ]; then \
      apt-get update && apt-get install -y --no-install-recommends build-essential cmake \
      && rm -rf /var/lib/apt/lists/*; fi
RUN python -m venv /opt/venv && /opt/venv/bin/pip install --no-cache-dir --upgrade pip
RUN case ",${EXTRAS}," in *,trainer,*|*,inference,*|*,evaluator,*) \
      /opt/venv/bin/pip install --no-cache-dir torch==2.13.0 \
        ${TORCH_INDEX:+--index-url ${TORCH_INDEX}} ;; esac
COPY pyproject.toml README.md ./
COPY proto ./proto
COPY gen ./gen
COPY tuneloop_core ./tuneloop_core
COPY tuneloop_cli ./tuneloop_cli
COPY services ./services
RUN /opt/venv/bin/pip install --no-cache-dir ".[${EXTRAS}]" \
 && /opt/venv/bin/pip uninstall -y torchvision torchaudio torchcodec || true
RUN if [ -n "${LLAMA_CPP}" ]; then \
      CMAKE_ARGS="-DGGML_NATIVE=OFF -DLLAVA_BUILD=OFF" /opt/venv/bin/pip install --no-cache-dir \
        "llama-cpp-python==${LLAMA_CPP}" \
      && /opt/venv/bin/pip download --no-deps --no-binary :all: -d /tmp/sdist \
        "llama-cpp-python==${LLAMA_CPP}" \
      && mkdir -p /opt/venv/share/llama-cpp-convert \
      && src="llama_cpp_python-${LLAMA_CPP}/vendor/llama.cpp" \
      && tar -xzf /tmp/sdist/*.tar.gz -C /opt/venv/share/llama-cpp-convert --strip-components=3 \
        "$src/convert_hf_to_gguf.py" "$src/conversion" "$src/gguf-py"; fi

FROM python:${PYTHON}-slim
ARG SERVICE
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    TUNELOOP_SERVICE=${SERVICE} \
    TUNELOOP_DATA_DIR=/data \
    TUNELOOP_EXPORT_CONVERTER_DIR=/opt/venv/share/llama-cpp-convert
RUN useradd --create-home --uid 10001 tuneloop && mkdir /data && chown tuneloop /data
COPY --from=build /opt/venv /opt/venv
USER tuneloop
VOLUME /data
CMD ["sh", "-c", "exec python -m services.${TUNELOOP_SERVICE}"]
