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


def job_view(job: Job) -> FineTuningJob:
    spec: dict[str, Any] = job.spec or {}
    result: dict[str, Any] = job.result or {}
    asked = spec.get("hyperparameters", {})
    chosen = result.get("hyperparameters", {})
    error = job.error or None
    return FineTuningJob(
        id=job.id,
        created_at=job.created_at,
        finished_at=job.finished_at,
        model=spec.get("base_model", ""),
        fine_tuned_model=result.get("fine_tuned_model"),
        organization_id=job.tenant_id,
        status=job.status,
        training_file=spec.get("training_file", ""),
        validation_file=spec.get("validation_file") or None,
        hyperparameters=HyperparametersOut(
            n_epochs=chosen.get("n_epochs", asked.get("n_epochs", "auto")),
            batch_size=chosen.get("batch_size", asked.get("batch_size", "auto")),
            learning_rate_multiplier=chosen.get(
                "learning_rate_multiplier", asked.get("learning_rate_multiplier", "auto")
            ),
        ),
        result_files=list(result.get("result_files", [])),
        trained_tokens=result.get("trained_tokens"),
        error=ErrorOut(
            code=error.get("code"), message=error.get("message", ""), param=error.get("param")
        )
        if error
        else None,
        seed=int(spec.get("seed", 0)),
        user_provided_suffix=spec.get("suffix") or None,
        method={"type": "supervised", "supervised": spec.get("method", {})},
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
