"""OpenAI fine-tuning request and object shapes, with Tuneloop's LoRA extension."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from tuneloop_core.jobspecs.fine_tune import Quantization

Auto = Literal["auto"]


class HyperparametersIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    n_epochs: Auto | int = "auto"
    batch_size: Auto | int = "auto"
    learning_rate_multiplier: Auto | float = "auto"
    beta: Auto | float = "auto"  # DPO only


class SupervisedIn(BaseModel):
    """OpenAI's `method.supervised`, plus Tuneloop's adapter settings."""

    model_config = ConfigDict(extra="forbid")

    hyperparameters: HyperparametersIn | None = None
    lora_rank: int | None = Field(None, ge=1, le=512)
    lora_alpha: int | None = Field(None, ge=1)
    lora_dropout: float | None = Field(None, ge=0, lt=1)
    lora_targets: list[str] | None = None
    use_dora: bool | None = None
    quantization: Quantization | None = None
    full: bool | None = None
    max_seq_length: int | None = Field(None, ge=16, le=32768)


class DpoIn(SupervisedIn):
    """OpenAI's `method.dpo` (hyperparameters with `beta`), plus the same adapter settings."""


class MethodIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["supervised", "dpo"] = "supervised"
    supervised: SupervisedIn | None = None
    dpo: DpoIn | None = None

    def settings(self) -> SupervisedIn | None:
        """The settings of the chosen type."""
        return self.dpo if self.type == "dpo" else self.supervised


class CreateFineTuningJobRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    model: str = Field(min_length=1)
    training_file: str = Field(min_length=1)
    validation_file: str | None = None
    hyperparameters: HyperparametersIn | None = None
    method: MethodIn | None = None
    suffix: str | None = Field(None, max_length=64)
    seed: int | None = Field(None, ge=0, le=2**31 - 1)
    recipe: str | None = None  # Tuneloop: "lora" (default), "dora", "qlora", "full", "demo"
    metadata: dict[str, str] | None = None


class ErrorOut(BaseModel):
    code: str | None
    message: str
    param: str | None = None


class HyperparametersOut(BaseModel):
    # `beta` too, for a DPO job (an extra field, so a supervised job's object has none).
    model_config = ConfigDict(extra="allow")

    n_epochs: Auto | int
    batch_size: Auto | int
    learning_rate_multiplier: Auto | float


class FineTuningJob(BaseModel):
    id: str
    object: Literal["fine_tuning.job"] = "fine_tuning.job"
    created_at: int
    finished_at: int | None
    model: str
    fine_tuned_model: str | None
    organization_id: str
    status: str
    training_file: str
    validation_file: str | None
    hyperparameters: HyperparametersOut
    result_files: list[str]
    trained_tokens: int | None
    error: ErrorOut | None
    seed: int
    user_provided_suffix: str | None
    estimated_finish: int | None = None
    integrations: list[Any] = Field(default_factory=list)
    metadata: dict[str, str] | None = None
    method: dict[str, Any] | None = None
    verdict: dict[str, Any] | None = None  # Tuneloop: the plain-words result of training


class FineTuningJobEvent(BaseModel):
    id: str
    object: Literal["fine_tuning.job.event"] = "fine_tuning.job.event"
    created_at: int
    level: str
    message: str
    type: Literal["message", "metrics"] = "message"
    data: dict[str, Any] | None = None


class FineTuningJobCheckpoint(BaseModel):
    id: str
    object: Literal["fine_tuning.job.checkpoint"] = "fine_tuning.job.checkpoint"
    created_at: int
    fine_tuned_model_checkpoint: str
    fine_tuning_job_id: str
    step_number: int
    metrics: dict[str, float]
    epoch: int | None = None  # Tuneloop
