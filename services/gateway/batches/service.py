"""Batches (OpenAI's Batch API) as jobs of kind "batch": create, read, list, cancel. The
job status ↔ batch status mapping lives here. No FastAPI here."""

from __future__ import annotations

import asyncio
from typing import Any

from services.gateway.batches import protocol as p
from services.gateway.batches.lines import count_lines
from services.gateway.files.service import input_file
from services.gateway.jobs import service as jobs
from services.gateway.jobs.service import JobKind
from services.gateway.registry.models import Job, Tenant
from services.gateway.registry.records import from_record
from services.gateway.registry.transitions import JobStatus
from services.gateway.state import GatewayState
from tuneloop.gateway.v1 import batches_pb2
from tuneloop_core.errors import ConflictError, InvalidRequestError
from tuneloop_core.jobspecs import batch

KIND = JobKind(
    token="batch",
    object="batch",
    noun="batch",
    param="batch_id",
    spec_type=batches_pb2.BatchJobSpec,
)
INPUT_PURPOSE = "batch"
# The job's status as the batch shows it. PAUSED is how a batch is cancelling: the worker
# stops at its next chunk and ends the job CANCELLED with the lines it wrote.
STATUS: dict[JobStatus, p.BatchStatus] = {
    JobStatus.VALIDATING_FILES: "validating",
    JobStatus.QUEUED: "validating",
    JobStatus.RUNNING: "in_progress",
    JobStatus.PAUSED: "cancelling",
    JobStatus.SUCCEEDED: "completed",
    JobStatus.FAILED: "failed",
    JobStatus.CANCELLED: "cancelled",
}
CANCELLABLE = frozenset({JobStatus.VALIDATING_FILES, JobStatus.QUEUED, JobStatus.RUNNING})


def _check_request(req: p.CreateBatchRequest) -> None:
    if req.endpoint not in batch.ENDPOINTS:
        raise InvalidRequestError(
            f"endpoint '{req.endpoint}' is not supported; use one of {', '.join(batch.ENDPOINTS)}",
            param="endpoint",
        )
    if req.completion_window not in batch.COMPLETION_WINDOWS:
        raise InvalidRequestError(
            f"completion_window must be one of {', '.join(batch.COMPLETION_WINDOWS)}",
            param="completion_window",
        )
    batch.check_metadata(req.metadata or {})


async def _count_requests(state: GatewayState, tenant: Tenant, file_id: str) -> int:
    """The input file's requests, within the gateway's per-batch limits (400s naming them)."""
    file = await input_file(state, tenant, file_id, "input_file_id")
    if file.purpose != INPUT_PURPOSE:
        raise InvalidRequestError(
            f"File '{file_id}' has purpose '{file.purpose}'; a batch's input file must be "
            f"uploaded with purpose '{INPUT_PURPOSE}'",
            param="input_file_id",
        )
    settings = state.settings
    if file.bytes > settings.batch_max_file_mb << 20:
        raise InvalidRequestError(
            f"The input file is {file.bytes} bytes; a batch's input file may be at most "
            f"{settings.batch_max_file_mb} MiB (setting TUNELOOP_GATEWAY_BATCH_MAX_FILE_MB)",
            param="input_file_id",
            code="file_too_large",
        )
    data = await asyncio.to_thread(state.artifacts.path(file.path).read_bytes)
    lines = count_lines(data)
    if lines == 0:
        raise InvalidRequestError(
            "The input file holds no requests", param="input_file_id", code="empty_file"
        )
    if lines > settings.batch_max_lines:
        raise InvalidRequestError(
            f"The input file holds {lines} requests; a batch may hold at most "
            f"{settings.batch_max_lines} (setting TUNELOOP_GATEWAY_BATCH_MAX_LINES)",
            param="input_file_id",
            code="too_many_requests",
        )
    return lines


async def create(state: GatewayState, tenant: Tenant, req: p.CreateBatchRequest) -> p.BatchObject:
    _check_request(req)
    lines = await _count_requests(state, tenant, req.input_file_id)
    spec = batches_pb2.BatchJobSpec(
        input_file_id=req.input_file_id,
        endpoint=req.endpoint,
        completion_window=req.completion_window,
        metadata=req.metadata or {},
        total_lines=lines,
    )
    batch.check(spec)
    return await view(state, await jobs.submit(state, tenant, KIND, spec))


async def get(state: GatewayState, tenant: Tenant, batch_id: str) -> p.BatchObject:
    return await view(state, await jobs.get(state, tenant, KIND, batch_id))


async def page(state: GatewayState, tenant: Tenant, limit: int, after: str | None) -> p.BatchList:
    found, more = await jobs.page(state, tenant, KIND, limit, after)
    data = [await view(state, job) for job in found]
    return p.BatchList(
        data=data,
        first_id=data[0].id if data else None,
        last_id=data[-1].id if data else None,
        has_more=more,
    )


async def cancel(state: GatewayState, tenant: Tenant, batch_id: str) -> p.BatchObject:
    """The batch becomes `cancelling`; its worker stops at its next chunk and keeps what it
    wrote (`cancelled`, with the partial output file)."""
    job = await jobs.get(state, tenant, KIND, batch_id)
    if JobStatus(job.status) in CANCELLABLE:
        try:
            job = await state.registry.transition_job(job.id, JobStatus.PAUSED)
        except ConflictError:  # it moved meanwhile (finished, or another cancel won)
            job = await jobs.get(state, tenant, KIND, batch_id)
    status = JobStatus(job.status)
    if status not in (JobStatus.PAUSED, JobStatus.CANCELLED):
        raise ConflictError(
            f"Batch {batch_id} is {STATUS[status]} and cannot be cancelled",
            code="batch_not_cancellable",
        )
    return await view(state, job)


async def _running_counts(state: GatewayState, job: Job) -> dict[str, Any] | None:
    """The newest request_counts the worker published; None before its first chunk."""
    notes = await state.registry.list_events_newest_first(job.id, limit=5, event_type="note")
    for note in notes:
        counts = ((note.data or {}).get("data") or {}).get("request_counts")
        if counts:
            return dict(counts)
    return None


def _file_ids(result: dict[str, Any]) -> tuple[str | None, str | None]:
    """The output and error files' ids: registered in the order the result lists them."""
    ids = iter(result.get("result_files") or [])
    output = next(ids, None) if result.get("output_file") else None
    errors = next(ids, None) if result.get("error_file") else None
    return output, errors


async def view(state: GatewayState, job: Job) -> p.BatchObject:
    spec = from_record(job.spec or {}, batches_pb2.BatchJobSpec)
    status = JobStatus(job.status)
    shown = STATUS[status]
    result = job.result or {}
    total = int(spec.total_lines)
    counts: dict[str, Any] = {"total": total, "completed": 0, "failed": 0}
    if result:
        counts.update(
            completed=int(result.get("completed", 0)), failed=int(result.get("failed", 0))
        )
    elif status in (JobStatus.RUNNING, JobStatus.PAUSED):
        counts.update(await _running_counts(state, job) or {})
    finalizing = shown == "in_progress" and counts["completed"] + counts["failed"] >= total
    output_id, error_id = _file_ids(result)
    error = job.error or None
    ended = job.finished_at
    return p.BatchObject(
        id=job.id,
        endpoint=spec.endpoint,
        errors=p.BatchErrors(
            data=[
                p.BatchError(
                    code=error.get("code"),
                    message=error.get("message", ""),
                    param=error.get("param"),
                )
            ]
        )
        if error
        else None,
        input_file_id=spec.input_file_id,
        completion_window=spec.completion_window,
        status="finalizing" if finalizing else shown,
        output_file_id=output_id,
        error_file_id=error_id,
        created_at=job.created_at,
        in_progress_at=job.started_at,
        expires_at=job.created_at + batch.COMPLETION_WINDOW_S,
        finalizing_at=ended if shown == "completed" else (job.updated_at if finalizing else None),
        completed_at=ended if shown == "completed" else None,
        failed_at=ended if shown == "failed" else None,
        cancelling_at=job.updated_at
        if shown == "cancelling"
        else (ended if shown == "cancelled" else None),
        cancelled_at=ended if shown == "cancelled" else None,
        request_counts=p.RequestCounts(**counts),
        metadata=dict(spec.metadata) or None,
    )
