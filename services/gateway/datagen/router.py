"""HTTP routes of `/v1/datagen/jobs`."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request

from services.gateway.datagen import review, service
from services.gateway.datagen.protocol import (
    CreateDatagenJobRequest,
    PairList,
    PairObject,
    PairUpdate,
    ReviewedDatasetRequest,
)
from services.gateway.deps import CurrentTenant, StateDep, bearer_key
from services.gateway.files.protocol import FileObject
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


@router.get("/{job_id}/pairs", summary="List a datagen job's pairs for review")
async def list_pairs(
    job_id: str,
    state: StateDep,
    tenant: CurrentTenant,
    split: Literal["train", "eval"] | None = None,
    confirmed: bool | None = None,
    dropped: bool | None = None,
) -> PairList:
    """Every kept pair with its score, source and review state (edits applied)."""
    return await review.list_pairs(state, tenant, job_id, split, confirmed, dropped)


@router.patch("/{job_id}/pairs/{pair_id}", summary="Edit, confirm or drop a pair")
async def update_pair(
    job_id: str, pair_id: str, body: PairUpdate, state: StateDep, tenant: CurrentTenant
) -> PairObject:
    return await review.update_pair(state, tenant, job_id, pair_id, body)


@router.post("/{job_id}/dataset", summary="Build a dataset file from the reviewed pairs")
async def create_dataset(
    job_id: str, body: ReviewedDatasetRequest, state: StateDep, tenant: CurrentTenant
) -> FileObject:
    """The pairs not dropped (optionally only the confirmed ones), edits applied, as a new
    file with purpose `fine-tune` that the fine-tuning API accepts as is."""
    return await review.create_dataset(state, tenant, job_id, body)
