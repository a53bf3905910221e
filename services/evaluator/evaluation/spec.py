"""What an evaluation job asks for, read from the job request the gateway checked."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from google.protobuf import struct_pb2
from google.protobuf.json_format import MessageToDict

from services.evaluator.generation import GenerationSettings
from tuneloop_core.errors import InvalidRequestError


@dataclass(frozen=True)
class ModelEntry:
    """One row of the matrix: a model name, how the report labels it, its epoch (None for
    a base model or an adapter not from an epoch) and its weights' path when known."""

    name: str
    label: str
    epoch: int | None = None
    path: str = ""
    is_base: bool = False


@dataclass(frozen=True)
class EvaluationSpec:
    models: list[ModelEntry]
    dataset_path: str  # relative to the artifact store
    predictions: bool  # the file holds predictions already: score it, generate nothing
    metrics: list[str]
    generation: GenerationSettings
    judge_model: str = ""
    judge_pairwise: bool = True
    validators: list[str] | None = None  # None: those the references call for
    language: str = "auto"
    headline_metric: str = "rouge-l"
    seed: int = 0
    max_examples: int = 0  # 0: all
    fine_tuning_job: str = ""
    training_metrics_path: str = ""  # relative to the artifact store; "" when none
    comparison: str = ""
    votes: dict[str, int] = field(default_factory=dict)


def _model(raw: Any) -> ModelEntry:
    if not isinstance(raw, dict) or not isinstance(raw.get("name"), str):
        raise InvalidRequestError("the job's models are not {name, …} objects", param="models")
    epoch = raw.get("epoch")
    return ModelEntry(
        name=raw["name"],
        label=str(raw.get("label") or raw["name"]),
        epoch=int(epoch) if epoch is not None else None,
        path=str(raw.get("path") or ""),
        is_base=bool(raw.get("is_base", False)),
    )


def parse_spec(spec: struct_pb2.Struct) -> EvaluationSpec:
    """The spec; the gateway validated it, so a bad one here is a stale or forged request.
    A protobuf Struct holds every number as a double, hence the int() calls."""
    data = MessageToDict(spec)
    models = [_model(m) for m in data.get("models", [])]
    predictions = bool(data.get("predictions", False))
    if not models and not predictions:
        raise InvalidRequestError("the evaluation names no models", param="models")
    validators = data.get("validators")
    return EvaluationSpec(
        models=models,
        dataset_path=str(data.get("dataset_path", "")),
        predictions=predictions,
        metrics=[str(m) for m in data.get("metrics") or []],
        generation=GenerationSettings(
            max_tokens=int(data.get("max_tokens", 256)),
            temperature=float(data.get("temperature", 0.0)),
            top_p=float(data.get("top_p", 1.0)),
        ),
        judge_model=str(data.get("judge_model") or ""),
        judge_pairwise=bool(data.get("judge_pairwise", True)),
        validators=[str(v) for v in validators] if validators is not None else None,
        language=str(data.get("language") or "auto"),
        headline_metric=str(data.get("headline_metric") or "rouge-l"),
        seed=int(data.get("seed", 0)),
        max_examples=int(data.get("max_examples", 0)),
        fine_tuning_job=str(data.get("fine_tuning_job") or ""),
        training_metrics_path=str(data.get("training_metrics_path") or ""),
        comparison=str(data.get("comparison") or ""),
        votes={str(k): int(v) for k, v in (data.get("votes") or {}).items()},
    )
