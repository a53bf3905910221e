"""HTTP routes of OpenAI's Evals API (`/v1/evals`, runs, output items, each run's HTML
report) and of its graders (`/v1/fine_tuning/alpha/graders/run` and `/validate`)."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse

from services.gateway.deps import CurrentTenant, StateDep
from services.gateway.evals import grader_runs, runs, service
from services.gateway.evals import protocol as p
from services.gateway.jobs import service as jobs
from services.gateway.jobs.protocol import JobEventObject
from services.gateway.jobs.protocol import Page as EventPage

router = APIRouter(prefix="/evals", tags=["evals"])
graders_router = APIRouter(prefix="/fine_tuning/alpha/graders", tags=["evals"])
Limit = Query(20, ge=1, le=100)
Order = Query("asc", pattern="^(asc|desc)$")


@router.post("", summary="Create an eval")
async def create_eval(
    body: p.CreateEvalRequest, state: StateDep, tenant: CurrentTenant
) -> p.EvalObject:
    return await service.create(state, tenant, body)


@router.get("", summary="List evals")
async def list_evals(
    state: StateDep,
    tenant: CurrentTenant,
    limit: int = Limit,
    after: str | None = None,
    order: Literal["asc", "desc"] = Order,
    order_by: Literal["created_at", "updated_at"] = "created_at",
) -> p.Page:
    return await service.page(state, tenant, limit, after, order)


@router.get("/{eval_id}", summary="Get an eval")
async def get_eval(eval_id: str, state: StateDep, tenant: CurrentTenant) -> p.EvalObject:
    return await service.get(state, tenant, eval_id)


@router.post("/{eval_id}", summary="Rename an eval or change its metadata")
async def update_eval(
    eval_id: str, body: p.UpdateEvalRequest, state: StateDep, tenant: CurrentTenant
) -> p.EvalObject:
    return await service.update(state, tenant, eval_id, body)


@router.delete("/{eval_id}", summary="Delete an eval and its runs")
async def delete_eval(eval_id: str, state: StateDep, tenant: CurrentTenant) -> p.EvalDeleted:
    return await service.delete(state, tenant, eval_id)


@router.post("/{eval_id}/runs", summary="Start a run of an eval")
async def create_run(
    eval_id: str, body: p.CreateRunRequest, state: StateDep, tenant: CurrentTenant
) -> p.RunObject:
    return await runs.create(state, tenant, eval_id, body)


@router.get("/{eval_id}/runs", summary="List an eval's runs")
async def list_runs(
    eval_id: str,
    state: StateDep,
    tenant: CurrentTenant,
    limit: int = Limit,
    after: str | None = None,
    order: Literal["asc", "desc"] = Order,
    status: Literal["queued", "in_progress", "completed", "canceled", "failed"] | None = None,
) -> p.Page:
    return await runs.page(state, tenant, eval_id, limit, after, order, status)


@router.get("/{eval_id}/runs/{run_id}", summary="Get a run: status, counts, pass rates")
async def get_run(eval_id: str, run_id: str, state: StateDep, tenant: CurrentTenant) -> p.RunObject:
    return await runs.get(state, tenant, eval_id, run_id)


@router.post("/{eval_id}/runs/{run_id}", summary="Cancel a run (OpenAI's cancel path)")
async def cancel_run(
    eval_id: str, run_id: str, state: StateDep, tenant: CurrentTenant
) -> p.RunObject:
    return await runs.cancel(state, tenant, eval_id, run_id)


@router.post("/{eval_id}/runs/{run_id}/cancel", summary="Cancel a run")
async def cancel_run_explicit(
    eval_id: str, run_id: str, state: StateDep, tenant: CurrentTenant
) -> p.RunObject:
    return await runs.cancel(state, tenant, eval_id, run_id)


@router.delete("/{eval_id}/runs/{run_id}", summary="Delete a run")
async def delete_run(
    eval_id: str, run_id: str, state: StateDep, tenant: CurrentTenant
) -> p.RunDeleted:
    return await runs.delete(state, tenant, eval_id, run_id)


@router.get("/{eval_id}/runs/{run_id}/events", summary="A run's events (progress, status)")
async def list_run_events(
    eval_id: str,
    run_id: str,
    state: StateDep,
    tenant: CurrentTenant,
    limit: int = Query(100, ge=1, le=1000),
    after: str | None = None,
) -> EventPage[JobEventObject]:
    await state.registry.evals.get_run(tenant.id, eval_id, run_id)
    rows, more = await jobs.events(state, tenant, runs.KIND, run_id, limit, after)
    return EventPage(data=[jobs.event_view(r) for r in rows], has_more=more)


@router.get(
    "/{eval_id}/runs/{run_id}/report",
    summary="The run's report: one self-contained HTML page",
    response_class=HTMLResponse,
)
async def get_report(
    eval_id: str, run_id: str, state: StateDep, tenant: CurrentTenant
) -> HTMLResponse:
    return HTMLResponse(await runs.report(state, tenant, eval_id, run_id))


@router.get("/{eval_id}/runs/{run_id}/output_items", summary="A run's graded items")
async def list_output_items(
    eval_id: str,
    run_id: str,
    state: StateDep,
    tenant: CurrentTenant,
    limit: int = Limit,
    after: str | None = None,
    order: Literal["asc", "desc"] = Order,
    status: Literal["pass", "fail"] | None = None,
) -> p.Page:
    return await runs.output_items(state, tenant, eval_id, run_id, limit, after, order, status)


@router.get("/{eval_id}/runs/{run_id}/output_items/{output_item_id}", summary="One graded item")
async def get_output_item(
    eval_id: str, run_id: str, output_item_id: str, state: StateDep, tenant: CurrentTenant
) -> p.OutputItemObject:
    return await runs.output_item(state, tenant, eval_id, run_id, output_item_id)


@graders_router.post("/run", summary="Run a grader on one model sample")
async def run_grader(
    body: p.GraderRunRequest, state: StateDep, tenant: CurrentTenant
) -> dict[str, Any]:
    return await grader_runs.run(state, tenant, body)


@graders_router.post("/validate", summary="Check a grader without running it")
async def validate_grader(
    body: p.GraderValidateRequest, state: StateDep, tenant: CurrentTenant
) -> dict[str, Any]:
    return await grader_runs.validate(state, tenant, body)
