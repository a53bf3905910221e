"""Request shape of `/v1/evaluations` (models × metrics over a dataset, judge, report)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from tuneloop_core.jobspecs import evaluation as bounds
from tuneloop_core.jobspecs import sampling


class CreateEvaluationRequest(BaseModel):
    """What to evaluate: `models` (base models and/or adapters) and/or `fine_tuning_job`
    (its base model and every epoch's checkpoint), over `dataset_file` (any accepted
    dataset format; the last assistant turn is the reference). Or, with no models,
    `predictions_file`: predictions made elsewhere (`prediction`/`reference` JSONL, or
    LLaMA-Factory's `generated_predictions.jsonl`), scored as they are."""

    model_config = ConfigDict(extra="forbid")

    models: list[str] | None = Field(None, max_length=bounds.MAX_MODELS)
    fine_tuning_job: str | None = None
    dataset_file: str | None = None
    predictions_file: str | None = None
    metrics: list[str] | None = None  # None: BLEU-4, ROUGE-1/2/L, sacreBLEU, exact match, F1
    max_tokens: int = Field(bounds.DEFAULT_MAX_TOKENS, ge=1, le=sampling.MAX_TOKENS)
    temperature: float = Field(sampling.DEFAULT_TEMPERATURE, ge=0, le=sampling.MAX_TEMPERATURE)
    top_p: float = Field(sampling.DEFAULT_TOP_P, gt=0, le=1)
    max_examples: int | None = Field(None, ge=1)
    judge_model: str | None = None
    judge_pairwise: bool = True  # also ask the judge which of base and best is better
    validators: list[str] | None = None  # None: those the references call for
    language: Literal["auto", "zh", "en"] = "auto"
    # How BLEU-4 and ROUGE are computed: "llamafactory" (as LLaMA-Factory computes them, the
    # language-aware values kept as "<metric> (language-aware)" columns), "language_aware",
    # or "auto": llamafactory for a predictions file in LLaMA-Factory's format.
    scoring: Literal["auto", "llamafactory", "language_aware"] = "auto"
    headline_metric: str = bounds.DEFAULT_HEADLINE_METRIC
    comparison: str | None = None  # a comparison whose vote tallies the report shows
    seed: int = 0  # of the pairwise judge's order randomisation
