"""Every NATS stream name, subject and durable consumer name, in one place."""

from __future__ import annotations

from tuneloop.common.v1 import common_pb2

STREAM_JOBS = "JOBS"
STREAM_EVENTS = "EVENTS"
JOBS_WILDCARD = "jobs.>"
EVENTS_WILDCARD = "events.>"
# Durable consumer of EVENTS through which the gateway applies job state (one writer).
REGISTRY_CONSUMER = "gateway-registry"
# Base models installed or removed (events_pb2.BaseModelChanged). Core NATS, no stream: the
# models directory is the record, and the inference service rescans it as a fallback.
BASE_MODELS = "models.base"
# Imported adapters (events_pb2.ImportedAdapterChanged), one subject per import record; the
# ADAPTERS stream keeps the last message of each, so it holds every import's current state.
STREAM_ADAPTERS = "ADAPTERS"
ADAPTERS_WILDCARD = "adapters.>"
IMPORTED_ADAPTERS = "adapters.imported.*"


def imported_adapter(record_id: str) -> str:
    """Subject of one import record: `adapters.imported.<id>`."""
    if not record_id or any(c in record_id for c in ".*> \t"):
        raise ValueError(f"adapter record id {record_id!r} cannot be a subject token")
    return f"adapters.imported.{record_id}"


# Subject token of each job kind.
KIND_TOKENS: dict[int, str] = {
    common_pb2.JOB_KIND_FINE_TUNE: "fine_tune",
    common_pb2.JOB_KIND_DATAGEN: "datagen",
    common_pb2.JOB_KIND_EVALUATION: "evaluation",
    common_pb2.JOB_KIND_COMPARISON: "comparison",
    common_pb2.JOB_KIND_EXPORT: "export",
    common_pb2.JOB_KIND_KB_INGEST: "kb_ingest",
    common_pb2.JOB_KIND_EVAL_RUN: "eval_run",
    common_pb2.JOB_KIND_BATCH: "batch",
}
KINDS_BY_TOKEN = {token: kind for kind, token in KIND_TOKENS.items()}


def kind_token(kind: int) -> str:
    """Subject token of a JobKind, e.g. JOB_KIND_FINE_TUNE → "fine_tune"."""
    try:
        return KIND_TOKENS[kind]
    except KeyError:
        raise ValueError(f"no subject for job kind {kind}") from None


def job_requested(kind: int) -> str:
    """Work-queue subject of a kind: `jobs.<kind>.requested`."""
    return f"jobs.{kind_token(kind)}.requested"


def job_events(kind: int, job_id: str) -> str:
    """Event subject of one job: `events.<kind>.<job_id>`."""
    if not job_id or any(c in job_id for c in ".*> \t"):
        raise ValueError(f"job id {job_id!r} cannot be a subject token")
    return f"events.{kind_token(kind)}.{job_id}"


def kind_events(kind: int) -> str:
    """Every job's events of one kind, e.g. `events.fine_tune.*`."""
    return f"events.{kind_token(kind)}.*"


def worker_durable(kind: int) -> str:
    """Durable pull consumer shared by every worker of a kind."""
    return f"workers-{kind_token(kind)}"
