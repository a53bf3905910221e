"""What an evaluation job asks for: its typed spec (`tuneloop.evaluator.v1.EvaluationJobSpec`),
read when the worker takes the job."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from services.evaluator.generation import GenerationSettings
from tuneloop.evaluator.v1 import evaluator_pb2
from tuneloop_core.jobspecs import evaluation


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
    file_id: str  # the dataset, or the predictions file
    predictions: bool  # the file holds predictions already: score it, generate nothing
    metrics: list[str]
    generation: GenerationSettings
    judge_model: str = ""
    judge_pairwise: bool = True
    validators: list[str] | None = None  # None: those the references call for
    language: str = "auto"
    scoring: str = evaluation.DEFAULT_SCORING  # decided by `with_scoring` once the file is read
    headline_metric: str = "rouge-l"
    seed: int = 0
    max_examples: int = 0  # 0: all
    fine_tuning_job: str = ""
    comparison: str = ""
    votes: dict[str, int] = field(default_factory=dict)


def from_pb(spec: evaluator_pb2.EvaluationJobSpec) -> EvaluationSpec:
    """The spec, checked with the gateway's bounds (a bad one is a stale or forged job)."""
    evaluation.check(spec)
    return EvaluationSpec(
        models=[
            ModelEntry(
                name=m.name,
                label=m.label or m.name,
                epoch=m.epoch if m.HasField("epoch") else None,
                path=m.path,
                is_base=m.is_base,
            )
            for m in spec.models
        ],
        file_id=spec.predictions_file if spec.predictions else spec.dataset_file,
        predictions=spec.predictions,
        metrics=list(spec.metrics),
        generation=GenerationSettings(
            max_tokens=spec.max_tokens, temperature=spec.temperature, top_p=spec.top_p
        ),
        judge_model=spec.judge_model,
        judge_pairwise=spec.judge_pairwise,
        validators=list(spec.validators) if spec.validators_set else None,
        language=spec.language,
        scoring=spec.scoring or evaluation.DEFAULT_SCORING,
        headline_metric=spec.headline_metric or evaluation.DEFAULT_HEADLINE_METRIC,
        seed=spec.seed,
        max_examples=spec.max_examples,
        fine_tuning_job=spec.fine_tuning_job,
        comparison=spec.comparison,
        votes=dict(spec.votes),
    )


def with_scoring(spec: EvaluationSpec, llamafactory_file: bool) -> EvaluationSpec:
    """The spec with its scoring mode decided: the one asked for, else `llamafactory` for a
    predictions file in LLaMA-Factory's format (its owner compares with LLaMA-Factory's own
    numbers) and `language_aware` for everything else."""
    if spec.scoring != "auto":
        return spec
    return replace(spec, scoring="llamafactory" if llamafactory_file else "language_aware")
