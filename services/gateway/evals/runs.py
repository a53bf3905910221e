"""Runs of an eval: each is an evaluator job (kind "eval_run") that samples and grades; its
output items are read from the file the job wrote. No FastAPI here."""

from __future__ import annotations

import asyncio
from typing import Any, Literal

from services.gateway.evals import protocol as p
from services.gateway.evals.graders import criteria_pb, messages_pb, sampling_pb
from services.gateway.evals.service import custom_config
from services.gateway.files.service import input_file
from services.gateway.jobs import service as jobs
from services.gateway.jobs.service import JobKind
from services.gateway.registry.evals import Order
from services.gateway.registry.models import EvalRun, Job, Tenant
from services.gateway.registry.transitions import JobStatus
from services.gateway.served_models import require_served
from services.gateway.state import GatewayState
from tuneloop.evaluator.v1 import evals_pb2
from tuneloop_core.errors import ConflictError, InternalError, NotFoundError
from tuneloop_core.eval_outputs import read_output_items
from tuneloop_core.eval_rows import parse_lines, row
from tuneloop_core.jobspecs import eval_run

KIND = JobKind(
    token="eval_run",
    object="eval.run",
    noun="eval run",
    param="run_id",
    spec_type=evals_pb2.EvalRunJobSpec,
)
STATUS = {
    JobStatus.VALIDATING_FILES: "queued",
    JobStatus.QUEUED: "queued",
    JobStatus.RUNNING: "in_progress",
    JobStatus.PAUSED: "in_progress",
    JobStatus.SUCCEEDED: "completed",
    JobStatus.FAILED: "failed",
    JobStatus.CANCELLED: "canceled",
}
JOB_STATUSES = {api: [s.value for s, a in STATUS.items() if a == api] for api in STATUS.values()}
OUTPUT_ITEM_PREFIX = "outputitem-"


async def _rows(state: GatewayState, tenant: Tenant, source: Any, param: str) -> evals_pb2.EvalRows:
    """The run's rows, checked now so a bad file is a 400 rather than a failed run."""
    if isinstance(source, p.FileIdSource):
        file = await input_file(state, tenant, source.id, f"{param}.id")

        def check() -> None:
            with state.artifacts.open(file.path) as handle:
                parse_lines(handle, f"{param}.id")

        await asyncio.to_thread(check)
        return evals_pb2.EvalRows(file_id=file.id)
    out = evals_pb2.EvalRows()
    for i, content in enumerate(source.content):
        checked = row(content.model_dump(mode="json", exclude_none=True), f"item {i}", param)
        struct = out.rows.add()
        struct.update(
            {
                "item": checked["item"],
                **({"sample": checked["sample"]} if checked["sample"] else {}),
            }
        )
    return out


def _check_templates(
    templates: list[evals_pb2.TemplateMessage], item_schema: dict[str, Any], param: str
) -> None:
    for i, message in enumerate(templates):
        paths = eval_run.template_paths(message.content, f"{param}[{i}].content")
        eval_run.check_paths(paths, item_schema, sample=False, param=f"{param}[{i}].content")


async def create(
    state: GatewayState, tenant: Tenant, eval_id: str, req: p.CreateRunRequest
) -> p.RunObject:
    record = await state.registry.evals.get(tenant.id, eval_id)
    config = custom_config(record.data_source_config)
    spec = evals_pb2.EvalRunJobSpec(
        eval_id=eval_id,
        name=req.name or "",
        testing_criteria=criteria_pb(record.testing_criteria["criteria"]),
    )
    source = req.data_source
    model = ""
    if isinstance(source, p.CompletionsDataSource):
        await require_served(state, tenant, source.model, "data_source.model")
        model = source.model
        completions = evals_pb2.CompletionsSource(
            model=source.model,
            sampling=sampling_pb(source.sampling_params),
            rows=await _rows(state, tenant, source.source, "data_source.source"),
        )
        if isinstance(source.input_messages, p.TemplateInput):
            completions.template.extend(messages_pb(source.input_messages.template))
            _check_templates(
                list(completions.template),
                config.item_schema,
                "data_source.input_messages.template",
            )
        else:
            reference = source.input_messages.item_reference
            eval_run.check_paths(
                [reference], config.item_schema, False, "data_source.input_messages.item_reference"
            )
            completions.item_reference = reference
        spec.completions.CopyFrom(completions)
    else:
        spec.jsonl.CopyFrom(
            evals_pb2.JsonlSource(
                rows=await _rows(state, tenant, source.source, "data_source.source")
            )
        )
    eval_run.check(spec)
    job = await jobs.submit(state, tenant, KIND, spec)
    run = EvalRun(
        id=job.id,
        eval_id=eval_id,
        tenant_id=tenant.id,
        name=req.name or "",
        model=model,
        data_source=source.model_dump(mode="json", exclude_none=True),
        meta=req.metadata,
        created_at=job.created_at,
    )
    await state.registry.evals.add_run(run)
    return view(run, job)


def report_url(run: EvalRun) -> str:
    return f"/v1/evals/{run.eval_id}/runs/{run.id}/report"


def view(run: EvalRun, job: Job, progress: dict[str, Any] | None = None) -> p.RunObject:
    result = job.result or {}
    usage = result.get("usage") or {}
    prompt, completion = int(usage.get("prompt_tokens", 0)), int(usage.get("completion_tokens", 0))
    total = int(result.get("total", 0))
    error = job.error or None
    return p.RunObject(
        id=run.id,
        created_at=run.created_at,
        eval_id=run.eval_id,
        name=run.name,
        model=run.model or None,
        status=STATUS[JobStatus(job.status)],
        data_source=run.data_source,
        metadata=run.meta,
        result_counts=p.ResultCounts(
            total=total,
            passed=int(result.get("passed", 0)),
            failed=int(result.get("failed", 0)),
            errored=int(result.get("errored", 0)),
        ),
        per_testing_criteria_results=[
            p.CriterionResult(
                testing_criteria=c["testing_criteria"],
                passed=int(c.get("passed", 0)),
                failed=int(c.get("failed", 0)),
            )
            for c in result.get("per_testing_criteria_results", [])
        ],
        per_model_usage=[
            p.ModelUsage(
                model_name=run.model,
                invocation_count=total,
                prompt_tokens=prompt,
                completion_tokens=completion,
                total_tokens=prompt + completion,
            )
        ]
        if run.model and result
        else [],
        report_url=report_url(run) if result.get("report_file") else None,
        error=p.RunError(code=error.get("code") or "error", message=error.get("message", ""))
        if error
        else None,
        progress=progress,
    )


async def _progress(state: GatewayState, job: Job) -> dict[str, Any] | None:
    """A working run's newest progress: its stage ("sampling", "grading"), done, total."""
    if job.status != JobStatus.RUNNING:
        return None
    events = await state.registry.list_events_newest_first(job.id, limit=1, event_type="progress")
    if not events or not events[0].data:
        return None
    data = events[0].data
    return {
        "stage": str(data.get("stage", "")),
        "done": int(data.get("done", 0)),
        "total": int(data.get("total", 0)),
    }


async def get(state: GatewayState, tenant: Tenant, eval_id: str, run_id: str) -> p.RunObject:
    run, job = await state.registry.evals.get_run(tenant.id, eval_id, run_id)
    return view(run, job, await _progress(state, job))


async def page(
    state: GatewayState,
    tenant: Tenant,
    eval_id: str,
    limit: int,
    after: str | None,
    order: Order,
    status: str | None,
) -> p.Page:
    await state.registry.evals.get(tenant.id, eval_id)
    statuses = JOB_STATUSES.get(status, []) if status else None
    rows, more = await state.registry.evals.page_runs(
        tenant.id, eval_id, limit, after, order, statuses
    )
    data = [view(r, j, await _progress(state, j)) for r, j in rows]
    return p.Page(
        data=data,
        first_id=data[0].id if data else None,
        last_id=data[-1].id if data else None,
        has_more=more,
    )


async def cancel(state: GatewayState, tenant: Tenant, eval_id: str, run_id: str) -> p.RunObject:
    run, job = await state.registry.evals.get_run(tenant.id, eval_id, run_id)
    if JobStatus(job.status) in (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED):
        raise ConflictError(
            f"Run {run_id} is {STATUS[JobStatus(job.status)]}; only a queued or running run "
            "can be cancelled",
            param="run_id",
            code="run_finished",
        )
    job = await state.registry.transition_job(run_id, JobStatus.CANCELLED)
    return view(run, job)


async def delete(state: GatewayState, tenant: Tenant, eval_id: str, run_id: str) -> p.RunDeleted:
    await state.registry.evals.delete_run(tenant.id, eval_id, run_id)
    return p.RunDeleted(run_id=run_id)


async def _artifact(
    state: GatewayState, tenant: Tenant, eval_id: str, run_id: str, key: str
) -> tuple[EvalRun, str]:
    run, job = await state.registry.evals.get_run(tenant.id, eval_id, run_id)
    relpath = (job.result or {}).get(key)
    if job.status != JobStatus.SUCCEEDED or not relpath:
        raise ConflictError(
            f"Run {run_id} is {STATUS[JobStatus(job.status)]}; its results are there once it "
            "has completed",
            param="run_id",
            code="run_not_completed",
        )
    return run, str(relpath)


async def report(state: GatewayState, tenant: Tenant, eval_id: str, run_id: str) -> str:
    _, relpath = await _artifact(state, tenant, eval_id, run_id, "report_file")

    def read() -> str:
        try:
            with state.artifacts.open(relpath) as handle:
                return handle.read().decode()
        except NotFoundError:
            raise InternalError(f"the report of run {run_id} is missing") from None

    return await asyncio.to_thread(read)


def _item_view(run: EvalRun, raw: dict[str, Any]) -> p.OutputItemObject:
    index = int(raw["index"])
    return p.OutputItemObject(
        id=f"{OUTPUT_ITEM_PREFIX}{index}-{run.id}",
        created_at=run.created_at,
        eval_id=run.eval_id,
        run_id=run.id,
        datasource_item_id=index,
        datasource_item=raw["item"],
        status=raw["status"],
        results=[{**r, "sample": None} for r in raw["results"]],
        sample=raw["sample"],
    )


async def _items(
    state: GatewayState, tenant: Tenant, eval_id: str, run_id: str
) -> tuple[EvalRun, list[dict[str, Any]]]:
    run, relpath = await _artifact(state, tenant, eval_id, run_id, "output_items_file")

    def read() -> list[dict[str, Any]]:
        try:
            return read_output_items(state.artifacts, relpath)
        except NotFoundError:
            raise InternalError(f"the output items of run {run_id} are missing") from None

    return run, await asyncio.to_thread(read)


async def output_items(
    state: GatewayState,
    tenant: Tenant,
    eval_id: str,
    run_id: str,
    limit: int,
    after: str | None,
    order: Order,
    status: Literal["pass", "fail"] | None,
) -> p.Page:
    run, items = await _items(state, tenant, eval_id, run_id)
    if order == "desc":
        items.reverse()
    if status:
        items = [i for i in items if i["status"] == status]
    if after is not None:
        ids = [_item_view(run, i).id for i in items]
        if after not in ids:
            raise NotFoundError(f"No such output item: {after}", param="after")
        items = items[ids.index(after) + 1 :]
    data = [_item_view(run, i) for i in items[:limit]]
    return p.Page(
        data=data,
        first_id=data[0].id if data else None,
        last_id=data[-1].id if data else None,
        has_more=len(items) > limit,
    )


async def output_item(
    state: GatewayState, tenant: Tenant, eval_id: str, run_id: str, item_id: str
) -> p.OutputItemObject:
    run, items = await _items(state, tenant, eval_id, run_id)
    for raw in items:
        view_ = _item_view(run, raw)
        if view_.id == item_id:
            return view_
    raise NotFoundError(f"No such output item: {item_id}", param="output_item_id")
