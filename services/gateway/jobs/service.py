"""Submit, read and cancel Tuneloop jobs of any kind; no FastAPI here."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from google.protobuf.message import Message

from services.gateway.ids import PREFIXES, new_id
from services.gateway.jobs.protocol import JobError, JobEventObject, JobObject
from services.gateway.registry.models import Job, JobEventRow, Tenant
from services.gateway.registry.records import record, spec_view
from services.gateway.registry.transitions import JobStatus
from services.gateway.state import GatewayState
from tuneloop_core.bus.publish import publish_job
from tuneloop_core.bus.subjects import KINDS_BY_TOKEN
from tuneloop_core.errors import InvalidRequestError, NotFoundError, ServiceUnavailableError


@dataclass(frozen=True)
class JobKind:
    """One kind of job as the public API shows it."""

    token: str  # registry kind and subject token, e.g. "datagen"
    object: str  # the `object` field, e.g. "datagen.job"
    noun: str  # for messages, e.g. "datagen job"
    param: str  # the path parameter named in not-found errors, e.g. "job_id"
    spec_type: type[Message]  # its typed *JobSpec


async def submit(
    state: GatewayState,
    tenant: Tenant,
    kind: JobKind,
    spec: Message,
    status: JobStatus = JobStatus.QUEUED,
) -> Job:
    """Record a job and queue it for a worker of its kind. `spec` is the kind's typed
    *JobSpec; the registry keeps its JSON form."""
    if state.nats is None:
        raise ServiceUnavailableError("the job queue (NATS) is not connected")
    job = await state.registry.create_job(
        tenant.id,
        kind.token,
        record(spec),
        job_id=new_id(PREFIXES[kind.token]),
        status=status,
    )
    await queue(state, job, spec)
    return job


async def queue(state: GatewayState, job: Job, spec: Message) -> None:
    """Publish the job's current attempt for a worker: at submit, and again at a resume."""
    if state.nats is None:
        raise ServiceUnavailableError("the job queue (NATS) is not connected")
    await publish_job(
        state.nats.jetstream(),
        job_id=job.id,
        tenant_id=job.tenant_id,
        kind=KINDS_BY_TOKEN[job.kind],
        spec=spec,
        attempt=job.attempt,
    )


async def get(state: GatewayState, tenant: Tenant, kind: JobKind, job_id: str) -> Job:
    """The tenant's job of this kind; another tenant's job is simply not found."""
    try:
        job = await state.registry.get_job(job_id, tenant.id)
    except NotFoundError:
        job = None
    if job is None or job.kind != kind.token:
        raise NotFoundError(f"No such {kind.noun}: {job_id}", param=kind.param)
    return job


async def cancel(state: GatewayState, tenant: Tenant, kind: JobKind, job_id: str) -> Job:
    """The worker notices at its next step and stops; a finished job cannot be cancelled."""
    await get(state, tenant, kind, job_id)
    return await state.registry.transition_job(job_id, JobStatus.CANCELLED)


async def page(
    state: GatewayState, tenant: Tenant, kind: JobKind, limit: int, after: str | None
) -> tuple[list[Job], bool]:
    """Newest first; `after` is the id of the last job of the previous page."""
    jobs = await state.registry.list_jobs(tenant.id, kind.token, limit + 1, after)
    return jobs[:limit], len(jobs) > limit


def event_id(job_id: str, seq: int) -> str:
    return f"event-{job_id}-{seq}"


def _seq_after(job_id: str, after: str | None) -> int:
    if after is None:
        return 0
    prefix = f"event-{job_id}-"
    if not after.startswith(prefix) or not after[len(prefix) :].isdigit():
        raise InvalidRequestError(f"'{after}' is not an event id of this job", param="after")
    return int(after[len(prefix) :])


async def events(
    state: GatewayState, tenant: Tenant, kind: JobKind, job_id: str, limit: int, after: str | None
) -> tuple[list[JobEventRow], bool]:
    """Oldest first, so a client polling with `after` = the last id it saw gets what is new."""
    await get(state, tenant, kind, job_id)
    rows = await state.registry.list_events(job_id, _seq_after(job_id, after), limit + 1)
    return rows[:limit], len(rows) > limit


SECRET_KEYS = frozenset({"api_key"})


def redacted(value: Any) -> Any:
    """A spec as the API shows it: secrets a job needs (a teacher's API key) left out."""
    if isinstance(value, dict):
        return {k: redacted(v) for k, v in value.items() if k not in SECRET_KEYS}
    if isinstance(value, list):
        return [redacted(v) for v in value]
    return value


def job_view(kind: JobKind, job: Job) -> JobObject:
    error = job.error or None
    return JobObject(
        id=job.id,
        object=kind.object,
        created_at=job.created_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
        status=job.status,
        spec=redacted(spec_view(job.spec or {}, kind.spec_type)),
        result=job.result or None,
        error=JobError(
            code=error.get("code"), message=error.get("message", ""), param=error.get("param")
        )
        if error
        else None,
    )


def event_view(row: JobEventRow) -> JobEventObject:
    data = row.data or {}
    if row.type == "note":  # a note carries its payload under `data`
        data = data.get("data", data)
    return JobEventObject(
        id=event_id(row.job_id, row.seq),
        created_at=row.created_at,
        seq=row.seq,
        level=row.level,
        type=row.type,
        message=row.message,
        data=data or None,
    )
