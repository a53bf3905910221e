"""HTTP routes of `/v1/evaluations`: create, results (JSON), report (HTML), plus the list,
get, cancel and events every job endpoint has."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from services.gateway.deps import CurrentTenant, StateDep
from services.gateway.evaluations import service
from services.gateway.evaluations.protocol import CreateEvaluationRequest
from services.gateway.jobs import service as jobs
from services.gateway.jobs.protocol import JobObject
from services.gateway.jobs.router import add_job_routes
from services.gateway.preference_files import PreferenceFileObject

router = APIRouter(prefix="/evaluations", tags=["evaluations"])


@router.post("", summary="Create an evaluation")
async def create_evaluation(
    body: CreateEvaluationRequest, state: StateDep, tenant: CurrentTenant
) -> JobObject:
    return jobs.job_view(service.KIND, await service.create(state, tenant, body))


@router.get("/{evaluation_id}/results", summary="The matrix, per-example outputs and verdict")
async def get_results(evaluation_id: str, state: StateDep, tenant: CurrentTenant) -> dict[str, Any]:
    return await service.results(state, tenant, evaluation_id)


@router.get(
    "/{evaluation_id}/report",
    summary="The evaluation report: one self-contained HTML page",
    response_class=HTMLResponse,
)
async def get_report(evaluation_id: str, state: StateDep, tenant: CurrentTenant) -> HTMLResponse:
    return HTMLResponse(await service.report(state, tenant, evaluation_id))


@router.post(
    "/{evaluation_id}/preference_file",
    summary="The judge's pairwise verdicts as a preference (DPO) training file",
)
async def preference_file(
    evaluation_id: str, state: StateDep, tenant: CurrentTenant
) -> PreferenceFileObject:
    return await service.preference_file(state, tenant, evaluation_id)


add_job_routes(router, service.KIND)
