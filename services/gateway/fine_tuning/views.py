"""Registry rows → OpenAI fine-tuning objects (jobs, events, checkpoints)."""

from __future__ import annotations

from typing import Any

from services.gateway.fine_tuning.protocol import (
    ErrorOut,
    FineTuningJob,
    FineTuningJobCheckpoint,
    FineTuningJobEvent,
    HyperparametersOut,
)
from services.gateway.registry.models import Job, JobEventRow


def _is_dpo(spec: dict[str, Any]) -> bool:
    return spec.get("method_type") == "dpo"


def _hyperparameters(spec: dict[str, Any], result: dict[str, Any]) -> HyperparametersOut:
    """The values training chose, else the ones asked for, else "auto"; `beta` for DPO."""
    asked = spec.get("hyperparameters", {})
    chosen = result.get("hyperparameters", {})
    names = ["n_epochs", "batch_size", "learning_rate_multiplier"]
    names += ["beta"] if _is_dpo(spec) else []
    return HyperparametersOut(**{n: chosen.get(n, asked.get(n, "auto")) for n in names})


def _method(spec: dict[str, Any], hyperparameters: HyperparametersOut) -> dict[str, Any]:
    """OpenAI's `method`: its type, and that type's settings with the hyper-parameters."""
    kind = "dpo" if _is_dpo(spec) else "supervised"
    settings = {**spec.get("method", {}), "hyperparameters": hyperparameters.model_dump()}
    return {"type": kind, kind: settings}


def job_view(job: Job) -> FineTuningJob:
    spec: dict[str, Any] = job.spec or {}
    result: dict[str, Any] = job.result or {}
    hyperparameters = _hyperparameters(spec, result)
    error = job.error or None
    return FineTuningJob(
        id=job.id,
        created_at=job.created_at,
        finished_at=job.finished_at,
        model=spec.get("start_model") or spec.get("base_model", ""),
        fine_tuned_model=result.get("fine_tuned_model"),
        organization_id=job.tenant_id,
        status=job.status,
        training_file=spec.get("training_file", ""),
        validation_file=spec.get("validation_file") or None,
        hyperparameters=hyperparameters,
        result_files=list(result.get("result_files", [])),
        trained_tokens=result.get("trained_tokens"),
        error=ErrorOut(
            code=error.get("code"), message=error.get("message", ""), param=error.get("param")
        )
        if error
        else None,
        seed=int(spec.get("seed", 0)),
        user_provided_suffix=spec.get("suffix") or None,
        method=_method(spec, hyperparameters),
        verdict=result.get("verdict"),
    )


def event_view(row: JobEventRow) -> FineTuningJobEvent:
    data = row.data or {}
    if row.type == "metrics":
        flat = {"step": data.get("step", 0), "epoch": data.get("epoch", 0.0)}
        flat.update(data.get("values", {}))
        return FineTuningJobEvent(
            id=f"ftevent-{row.job_id}-{row.seq}",
            created_at=row.created_at,
            level=row.level,
            message=row.message,
            type="metrics",
            data=flat,
        )
    payload = data.get("data", data) if row.type == "note" else data
    return FineTuningJobEvent(
        id=f"ftevent-{row.job_id}-{row.seq}",
        created_at=row.created_at,
        level=row.level,
        message=row.message,
        data=dict(payload) or None,
    )


def checkpoint_view(row: JobEventRow) -> FineTuningJobCheckpoint:
    data = row.data or {}
    return FineTuningJobCheckpoint(
        id=data.get("checkpoint_id", f"ftckpt-{row.job_id}-{row.seq}"),
        created_at=row.created_at,
        fine_tuned_model_checkpoint=data.get("model_name", ""),
        fine_tuning_job_id=row.job_id,
        step_number=int(data.get("step", 0)),
        metrics={k: float(v) for k, v in data.get("metrics", {}).items()},
        epoch=int(data.get("epoch", 0)) or None,
    )
