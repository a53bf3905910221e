"""HTTP routes of `/v1/datagen/jobs`."""

from __future__ import annotations

from fastapi import APIRouter, Request

from services.gateway.datagen import service
from services.gateway.datagen.protocol import CreateDatagenJobRequest
from services.gateway.deps import CurrentTenant, StateDep, bearer_key
from services.gateway.jobs.protocol import JobObject
from services.gateway.jobs.router import add_job_routes
from services.gateway.jobs.service import job_view

router = APIRouter(prefix="/datagen/jobs", tags=["datagen"])


@router.post("", summary="Create a datagen job")
async def create_job(
    body: CreateDatagenJobRequest, request: Request, state: StateDep, tenant: CurrentTenant
) -> JobObject:
    """Documents → Q&A pairs by the teacher → rule checks, near-duplicate removal, judge
    scores and refinement → train/eval files in `/v1/files` (see the job's `result`)."""
    job = await service.create(state, tenant, bearer_key(request), body)
    return job_view(service.KIND, job)


add_job_routes(router, service.KIND)
