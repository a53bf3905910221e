"""HTTP routes of `/v1/fine_tuning/jobs`."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Query

from services.gateway.deps import CurrentTenant, StateDep
from services.gateway.fine_tuning import service
from services.gateway.fine_tuning.protocol import (
    CreateFineTuningJobRequest,
    FineTuningJob,
    FineTuningJobCheckpoint,
    FineTuningJobEvent,
    Page,
)
from services.gateway.fine_tuning.views import checkpoint_view, event_view, job_view

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
    jobs = await asyncio.to_thread(
        state.registry.list_jobs, tenant.id, service.KIND, limit + 1, after
    )
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


@router.get("/{job_id}/events")
async def list_events(
    job_id: str, state: StateDep, tenant: CurrentTenant, limit: Limit = 20, after: str | None = None
) -> Page[FineTuningJobEvent]:
    """Newest first, like OpenAI; `after` is the id of the last event of the previous page."""
    await service.get(state, tenant, job_id)
    rows = await asyncio.to_thread(state.registry.list_events, job_id, 0, 100_000)
    events = [event_view(r) for r in reversed(rows)]
    if after is not None:
        ids = [e.id for e in events]
        events = events[ids.index(after) + 1 :] if after in ids else []
    return Page(data=events[:limit], has_more=len(events) > limit)


@router.get("/{job_id}/checkpoints")
async def list_checkpoints(
    job_id: str, state: StateDep, tenant: CurrentTenant, limit: Limit = 10, after: str | None = None
) -> Page[FineTuningJobCheckpoint]:
    await service.get(state, tenant, job_id)
    rows = await asyncio.to_thread(state.registry.list_events, job_id, 0, 100_000)
    saved = [
        checkpoint_view(r)
        for r in reversed(rows)
        if r.type == "checkpoint_saved" and not (r.data or {}).get("is_final")
    ]
    if after is not None:
        ids = [c.id for c in saved]
        saved = saved[ids.index(after) + 1 :] if after in ids else []
    return Page(data=saved[:limit], has_more=len(saved) > limit)
