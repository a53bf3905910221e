"""HTTP routes of `/v1/comparisons`: create, get (answers side by side), votes, CSV, plus
the list, cancel and events every job endpoint has."""

from __future__ import annotations

from fastapi import APIRouter, Response

from services.gateway.comparisons import service, votes
from services.gateway.comparisons.protocol import (
    ComparisonObject,
    CreateComparisonRequest,
    VoteObject,
    VoteRequest,
    VoteTallies,
)
from services.gateway.deps import CurrentKey, CurrentTenant, StateDep
from services.gateway.jobs.router import add_job_routes
from services.gateway.preference_files import PreferenceFileObject

router = APIRouter(prefix="/comparisons", tags=["comparisons"])


@router.post("", summary="Create a comparison")
async def create_comparison(
    body: CreateComparisonRequest, state: StateDep, tenant: CurrentTenant
) -> ComparisonObject:
    job = await service.create(state, tenant, body)
    return await service.view(state, tenant, job.id)


@router.get("/{comparison_id}", summary="Get a comparison and its answers side by side")
async def get_comparison(
    comparison_id: str, state: StateDep, tenant: CurrentTenant
) -> ComparisonObject:
    return await service.view(state, tenant, comparison_id)


@router.post("/{comparison_id}/votes", summary="Give or withdraw a thumbs-up on one answer")
async def vote(
    comparison_id: str, body: VoteRequest, state: StateDep, tenant: CurrentTenant, key: CurrentKey
) -> VoteObject:
    return await votes.vote(state, tenant, key, comparison_id, body)


@router.get("/{comparison_id}/votes", summary="Votes per model and per question")
async def list_votes(
    comparison_id: str, state: StateDep, tenant: CurrentTenant, key: CurrentKey
) -> VoteTallies:
    return await votes.tallies(state, tenant, key, comparison_id)


@router.get(
    "/{comparison_id}/export.csv",
    summary="The answers and votes as CSV (UTF-8 with BOM, one row per question)",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}}},
)
async def export_csv(comparison_id: str, state: StateDep, tenant: CurrentTenant) -> Response:
    body = await service.export_csv(state, tenant, comparison_id)
    return Response(
        content=body,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{comparison_id}.csv"'},
    )


@router.post(
    "/{comparison_id}/preference_file",
    summary="The votes as a preference (DPO) training file: the voted answer preferred",
)
async def preference_file(
    comparison_id: str, state: StateDep, tenant: CurrentTenant
) -> PreferenceFileObject:
    return await service.preference_file(state, tenant, comparison_id)


add_job_routes(router, service.KIND, get=False)
