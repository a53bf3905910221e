"""The best model, why, and suggestions in plain words, from the metric matrix, the judge
and the validators."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from services.evaluator.evaluation.spec import ModelEntry
from services.evaluator.metrics.registry import LANGUAGE_AWARE_SUFFIX

# Points (0–100 scale) within which two scores count as level, e.g. for "still rising".
LEVEL_POINTS = 0.5
# A validator passing on fewer applicable answers than this (%) earns a suggestion.
LOW_PASS_RATE = 50.0
# The judge reply must carry a score this often (%) for its scores to be trusted.
JUDGE_PARSE_RATE = 80.0

NAMES = {"rouge-l": "ROUGE-L", "rouge-1": "ROUGE-1", "rouge-2": "ROUGE-2", "bleu-4": "BLEU-4"}


def metric_name(metric: str) -> str:
    """How text shows a metric column: "ROUGE-L", "ROUGE-L (language-aware)", "token_f1"."""
    base = metric.removesuffix(LANGUAGE_AWARE_SUFFIX)
    return NAMES.get(base, base) + metric[len(base) :]


@dataclass
class Verdict:
    best_model: str | None
    reason: str
    headline_metric: str | None
    suggestions: list[str] = field(default_factory=list)


def _pick(scores: Mapping[str, float], models: Sequence[ModelEntry]) -> str:
    """The highest score; on a tie the earlier row (the smaller model change)."""
    return max(models, key=lambda m: (scores[m.name], -models.index(m))).name


def _epoch_trend(
    metric: str, scores: Mapping[str, float], models: Sequence[ModelEntry]
) -> list[str]:
    epochs = sorted((m for m in models if m.epoch is not None), key=lambda m: m.epoch or 0)
    if len(epochs) < 2:
        return []
    peak = _pick(scores, epochs)
    peak_entry = next(m for m in epochs if m.name == peak)
    last = epochs[-1]
    name = metric_name(metric)
    if peak != last.name and scores[peak] - scores[last.name] > LEVEL_POINTS:
        return [
            f"{name} peaks at epoch {peak_entry.epoch} ({scores[peak]:.1f}) and falls after "
            f"(epoch {last.epoch}: {scores[last.name]:.1f}): use epoch {peak_entry.epoch} "
            f"({peak}); later epochs over-fit."
        ]
    before = epochs[-2]
    if scores[last.name] - scores[before.name] > LEVEL_POINTS:
        return [
            f"{name} still rises at the last epoch ({scores[before.name]:.1f} → "
            f"{scores[last.name]:.1f}): training for more epochs may help."
        ]
    return []


def decide(
    models: Sequence[ModelEntry],
    matrix: Mapping[str, Mapping[str, float]],
    headline: str,
    judge_means: Mapping[str, float | None],
    judge_parse_rate: float | None,
    validator_rates: Mapping[str, Mapping[str, float | None]],
) -> Verdict:
    """`matrix[model][metric]`; `judge_means[model]` 1–10; `validator_rates[model][name]`."""
    metrics = list(next(iter(matrix.values()), {}))
    metric = headline if headline in metrics else (metrics[0] if metrics else None)
    suggestions: list[str] = []
    if metric is not None:
        scores = {m.name: matrix[m.name][metric] for m in models}
        best = _pick(scores, models)
        reason = f"{best} has the highest {metric_name(metric)}: {scores[best]:.1f}"
        base = next((m for m in models if m.is_base), None)
        if base is not None and best != base.name:
            gain = scores[best] - scores[base.name]
            reason += (
                f", {gain:.1f} points above the base model {base.name} ({scores[base.name]:.1f})"
            )
        reason += "."
        suggestions += _epoch_trend(metric, scores, models)
        tuned = [m for m in models if not m.is_base]
        if (
            base is not None
            and tuned
            and all(scores[m.name] < scores[base.name] - LEVEL_POINTS for m in tuned)
        ):
            suggestions.append(
                f"The fine-tuned model scores below the base on {metric_name(metric)}: check "
                "data quality (wrong or inconsistent answers, format) and the learning rate."
            )
    elif any(v is not None for v in judge_means.values()):
        judged = {m.name: judge_means[m.name] or 0.0 for m in models}
        best = _pick(judged, models)
        reason = (
            f"{best} has the highest judge score: {judged[best]:.1f} / 10 (no reference answers)."
        )
        metric = None
    else:
        return Verdict(
            None,
            "No reference answers and no judge: nothing ranks the models.",
            None,
            ["Add reference answers to the dataset, or name a judge model."],
        )
    if judge_parse_rate is not None and judge_parse_rate < JUDGE_PARSE_RATE:
        suggestions.append(
            f"The judge gave a readable score for only {judge_parse_rate:.0f}% of answers: "
            "use a stronger judge model before trusting its scores."
        )
    for model, rates in validator_rates.items():
        for name, rate in rates.items():
            if rate is not None and rate < LOW_PASS_RATE and model == best:
                suggestions.append(
                    f"Only {rate:.0f}% of {model}'s answers pass {name}: add training "
                    "examples that show this format."
                )
    return Verdict(best, reason, metric, suggestions)
