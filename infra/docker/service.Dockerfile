# One image recipe for every service; SERVICE picks the entry point and EXTRAS the pip
# extras, so the trainer image carries torch and the gateway image does not.
#   docker build -f infra/docker/service.Dockerfile --build-arg SERVICE=trainer \
#                --build-arg EXTRAS=trainer .
ARG PYTHON=3.11

FROM python:${PYTHON}-slim AS build
ARG EXTRAS
WORKDIR /src
COPY pyproject.toml README.md ./
COPY proto ./proto
COPY gen ./gen
COPY tuneloop_core ./tuneloop_core
COPY services ./services
RUN python -m venv /opt/venv \
 && /opt/venv/bin/pip install --no-cache-dir ".[${EXTRAS}]"

FROM python:${PYTHON}-slim
ARG SERVICE
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    TUNELOOP_SERVICE=${SERVICE} \
    TUNELOOP_DATA_DIR=/data
RUN useradd --create-home --uid 10001 tuneloop && mkdir /data && chown tuneloop /data
COPY --from=build /opt/venv /opt/venv
USER tuneloop
VOLUME /data
CMD ["sh", "-c", "exec python -m services.${TUNELOOP_SERVICE}"]
