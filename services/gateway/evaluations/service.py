"""Evaluations: expand a fine-tuning job into its base and checkpoints, check models and
files, queue the job; serve its results JSON and HTML report. No FastAPI here; the
evaluator's worker does the work."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from typing import Any

from services.gateway.comparisons import service as comparisons
from services.gateway.evaluations.protocol import CreateEvaluationRequest
from services.gateway.fine_tuning import service as fine_tuning
from services.gateway.jobs import service as jobs
from services.gateway.jobs.service import JobKind
from services.gateway.preference_files import PreferenceFileObject, from_judge, save
from services.gateway.registry.models import File, Job, Tenant
from services.gateway.registry.transitions import JobStatus
from services.gateway.served_models import served, unknown_model
from services.gateway.state import GatewayState
from tuneloop.evaluator.v1 import evaluator_pb2
from tuneloop.inference.v1 import inference_pb2
from tuneloop_core.errors import ConflictError, InternalError, InvalidRequestError, NotFoundError

KIND = JobKind(
    token="evaluation",
    object="evaluation",
    noun="evaluation",
    param="evaluation_id",
    spec_type=evaluator_pb2.EvaluationJobSpec,
)
FINE_TUNE = dataclasses.replace(fine_tuning.JOB_KIND, param="fine_tuning_job")
COMPARISON = dataclasses.replace(comparisons.KIND, param="comparison")


async def _file(state: GatewayState, tenant: Tenant, file_id: str, param: str) -> File:
    try:
        return await state.registry.get_file(tenant.id, file_id)
    except NotFoundError:
        raise NotFoundError(
            f"No such File object: {file_id}", param=param, code="file_not_found"
        ) from None


async def _job_models(state: GatewayState, tenant: Tenant, job_id: str) -> list[dict[str, Any]]:
    """The job's base model, the fine-tuned model it started from (if any), then one entry
    per epoch checkpoint, oldest first."""
    job = await jobs.get(state, tenant, FINE_TUNE, job_id)
    rows = await state.registry.list_events_newest_first(job_id, None, 10_000, "checkpoint_saved")
    saved = [r.data or {} for r in rows if not (r.data or {}).get("is_final")]
    saved.sort(key=lambda data: int(data.get("epoch", 0)))
    if not saved:
        raise InvalidRequestError(
            f"The fine-tuning job {job_id} has saved no checkpoint yet (status {job.status})",
            param="fine_tuning_job",
            code="no_checkpoints",
        )
    base = str((job.spec or {}).get("base_model", ""))
    entries = [{"name": base, "label": f"{base} (base)", "is_base": True}]
    start = str((job.spec or {}).get("start_model", ""))
    if start:  # a job that continued a fine-tuned model (SFT then DPO): that model too
        entries.append({"name": start, "label": "start (before this job)"})
    for data in saved:
        epoch = int(data.get("epoch", 0))
        entries.append({"name": str(data["model_name"]), "label": f"epoch {epoch}", "epoch": epoch})
    return entries


async def _available(state: GatewayState, tenant: Tenant) -> dict[str, inference_pb2.ModelInfo]:
    return {m.name: m for m in await served(state, tenant)}


async def _votes(state: GatewayState, tenant: Tenant, comparison_id: str) -> dict[str, int]:
    """The comparison's votes per model so far (a snapshot for the report)."""
    await jobs.get(state, tenant, COMPARISON, comparison_id)
    tallies = await state.registry.votes.tallies(comparison_id)
    totals: dict[str, int] = {}
    for tally in tallies:
        totals[tally.model] = totals.get(tally.model, 0) + tally.votes
    return totals


async def _models(
    state: GatewayState, tenant: Tenant, req: CreateEvaluationRequest
) -> list[dict[str, Any]]:
    entries = await _job_models(state, tenant, req.fine_tuning_job) if req.fine_tuning_job else []
    named = {e["name"] for e in entries}
    for name in req.models or []:
        if name in named:
            raise InvalidRequestError(
                f"Model '{name}' is listed twice", param="models", code="duplicate_model"
            )
        named.add(name)
        entries.append({"name": name, "label": name})
    available = await _available(state, tenant)
    for entry in entries:
        info = available.get(entry["name"])
        if info is None:
            raise unknown_model(entry["name"], "models", available)
        entry["is_base"] = entry.get("is_base") or info.kind != inference_pb2.MODEL_KIND_ADAPTER
        if info.epoch and "epoch" not in entry:
            entry["epoch"] = int(info.epoch)
        entry["path"] = info.path
    if req.judge_model and req.judge_model not in available:
        raise unknown_model(req.judge_model, "judge_model", available)
    return entries


async def create(state: GatewayState, tenant: Tenant, req: CreateEvaluationRequest) -> Job:
    if (req.dataset_file is None) == (req.predictions_file is None):
        raise InvalidRequestError(
            "Give either `dataset_file` (the models answer it) or `predictions_file` "
            "(answers made elsewhere, scored as they are), not both or neither",
            param="dataset_file",
        )
    if req.predictions_file is not None and (req.models or req.fine_tuning_job):
        raise InvalidRequestError(
            "A predictions file is scored as it is: leave out `models` and `fine_tuning_job`",
            param="models",
        )
    if req.dataset_file is not None and not (req.models or req.fine_tuning_job):
        raise InvalidRequestError(
            "Name the `models` to evaluate, or a `fine_tuning_job` (its base and every epoch)",
            param="models",
        )
    param = "dataset_file" if req.dataset_file else "predictions_file"
    file = await _file(state, tenant, req.dataset_file or req.predictions_file or "", param)
    models = await _models(state, tenant, req)
    if req.predictions_file is not None:
        models = [{"name": "predictions", "label": file.filename}]
    spec = evaluator_pb2.EvaluationJobSpec(
        models=[evaluator_pb2.EvaluatedModel(**entry) for entry in models],
        dataset_file=req.dataset_file or "",
        predictions_file=req.predictions_file or "",
        predictions=req.predictions_file is not None,
        metrics=req.metrics or [],
        max_tokens=req.max_tokens,
        temperature=req.temperature,
        top_p=req.top_p,
        max_examples=req.max_examples or 0,
        judge_model=req.judge_model or "",
        judge_pairwise=req.judge_pairwise,
        validators=req.validators or [],
        validators_set=req.validators is not None,
        language=req.language,
        scoring=req.scoring,
        headline_metric=req.headline_metric,
        seed=req.seed,
        fine_tuning_job=req.fine_tuning_job or "",
        comparison=req.comparison or "",
        votes=await _votes(state, tenant, req.comparison) if req.comparison else {},
    )
    return await jobs.submit(state, tenant, KIND, spec)


async def _artifact(state: GatewayState, tenant: Tenant, evaluation_id: str, key: str) -> bytes:
    job = await jobs.get(state, tenant, KIND, evaluation_id)
    if job.status != JobStatus.SUCCEEDED or not job.result or key not in job.result:
        raise ConflictError(
            f"The evaluation {evaluation_id} has no results yet (status {job.status})",
            param=KIND.param,
            code="evaluation_not_finished",
        )

    def read() -> bytes:
        with state.artifacts.open(str(job.result[key])) as handle:  # type: ignore[index]
            return handle.read()

    try:
        return await asyncio.to_thread(read)
    except (NotFoundError, FileNotFoundError):
        raise InternalError(f"the {key} of evaluation {evaluation_id} is missing") from None


async def results(state: GatewayState, tenant: Tenant, evaluation_id: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(await _artifact(state, tenant, evaluation_id, "results_file"))
    return data


async def report(state: GatewayState, tenant: Tenant, evaluation_id: str) -> str:
    return (await _artifact(state, tenant, evaluation_id, "report_file")).decode()


async def preference_file(
    state: GatewayState, tenant: Tenant, evaluation_id: str
) -> PreferenceFileObject:
    """The judge's pairwise verdicts as a DPO training file, each line marked as the judge's."""
    preferences = from_judge(evaluation_id, await results(state, tenant, evaluation_id))
    filename = f"{evaluation_id}-judge.jsonl"
    return await save(state, tenant, preferences, filename, "judge")
