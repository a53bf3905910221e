"""HTTP routes of `/v1/fine_tuning/jobs`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from services.gateway.deps import CurrentTenant, StateDep
from services.gateway.fine_tuning import service
from services.gateway.fine_tuning.protocol import (
    CreateFineTuningJobRequest,
    FineTuningJob,
    FineTuningJobCheckpoint,
    FineTuningJobEvent,
)
from services.gateway.fine_tuning.views import checkpoint_view, event_view, job_view
from services.gateway.jobs.protocol import Page

router = APIRouter(prefix="/fine_tuning/jobs", tags=["fine-tuning"])
Limit = Annotated[int, Query(ge=1, le=1000)]


@router.post("")
async def create_job(
    body: CreateFineTuningJobRequest, state: StateDep, tenant: CurrentTenant
) -> FineTuningJob:
    return job_view(await service.create(state, tenant, body))


@router.get("")
async def list_jobs(
    state: StateDep, tenant: CurrentTenant, limit: Limit = 20, after: str | None = None
) -> Page[FineTuningJob]:
    jobs = await state.registry.list_jobs(tenant.id, service.KIND, limit + 1, after)
    return Page(data=[job_view(j) for j in jobs[:limit]], has_more=len(jobs) > limit)


@router.get("/{job_id}")
async def get_job(job_id: str, state: StateDep, tenant: CurrentTenant) -> FineTuningJob:
    return job_view(await service.get(state, tenant, job_id))


@router.post("/{job_id}/cancel")
async def cancel_job(job_id: str, state: StateDep, tenant: CurrentTenant) -> FineTuningJob:
    return job_view(await service.cancel(state, tenant, job_id))


@router.post("/{job_id}/pause")
async def pause_job(job_id: str, state: StateDep, tenant: CurrentTenant) -> FineTuningJob:
    return job_view(await service.pause(state, tenant, job_id))


@router.post("/{job_id}/resume")
async def resume_job(job_id: str, state: StateDep, tenant: CurrentTenant) -> FineTuningJob:
    return job_view(await service.resume(state, tenant, job_id))


def _before_seq(after: str | None, prefix: str) -> int | None:
    """The seq in an event or checkpoint id of this job (`<prefix><seq>`); a foreign id
    pages nothing rather than everything."""
    if after is None:
        return None
    tail = after.removeprefix(prefix)
    return int(tail) if tail != after and tail.isdigit() else 0


@router.get("/{job_id}/events")
async def list_events(
    job_id: str, state: StateDep, tenant: CurrentTenant, limit: Limit = 20, after: str | None = None
) -> Page[FineTuningJobEvent]:
    """Newest first, like OpenAI; `after` is the id of the last event of the previous page."""
    await service.get(state, tenant, job_id)
    before = _before_seq(after, f"ftevent-{job_id}-")
    rows = await state.registry.list_events_newest_first(job_id, before, limit + 1)
    return Page(data=[event_view(r) for r in rows[:limit]], has_more=len(rows) > limit)


@router.get("/{job_id}/checkpoints")
async def list_checkpoints(
    job_id: str, state: StateDep, tenant: CurrentTenant, limit: Limit = 10, after: str | None = None
) -> Page[FineTuningJobCheckpoint]:
    await service.get(state, tenant, job_id)
    # One row per epoch (at most a few dozen), so the `after` cursor is applied here.
    rows = await state.registry.list_events_newest_first(job_id, None, 10_000, "checkpoint_saved")
    saved = [checkpoint_view(r) for r in rows if not (r.data or {}).get("is_final")]
    if after is not None:
        ids = [c.id for c in saved]
        saved = saved[ids.index(after) + 1 :] if after in ids else []
    return Page(data=saved[:limit], has_more=len(saved) > limit)
