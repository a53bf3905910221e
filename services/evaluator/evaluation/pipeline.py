"""One evaluation from examples to results: answers (generated through the inference
service, or read from a predictions file), reference metrics, judge, validators, verdict.
The job plumbing (events, cancel, artifacts) is the worker's."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from math import fsum
from typing import Any

from services.evaluator.evaluation import judge, validators
from services.evaluator.evaluation.examples import Example
from services.evaluator.evaluation.spec import EvaluationSpec, ModelEntry
from services.evaluator.evaluation.verdict import decide
from services.evaluator.generation import generate_answers
from services.evaluator.metrics import DEFAULT_METRICS, METRICS, Scoring, metric_columns, score
from tuneloop.inference.v1 import inference_pb2_grpc
from tuneloop_core.errors import InvalidRequestError

log = logging.getLogger(__name__)
# Examples per round of generation (and of judging): the inference engine batches the
# concurrent requests of a round, and between rounds the job reports progress and notices
# a cancel.
ROUND = 32
# Reports a step: stage (e.g. "generation: epoch 2"), done, total, and the line a person
# reads ("answers 12/68 for epoch 2").
Progress = Callable[[str, int, int, str], Awaitable[None]]


def check_metrics(names: list[str]) -> list[str]:
    chosen = list(dict.fromkeys(names)) or list(DEFAULT_METRICS)
    unknown = [n for n in chosen if n not in METRICS]
    if unknown:
        raise InvalidRequestError(
            f"unknown metrics {unknown}; known: {sorted(METRICS)}", param="metrics"
        )
    return chosen


def _refusals(refused: list[str]) -> Callable[[int, InvalidRequestError], str]:
    """An example the engine refuses (longer than the model's context) gets an empty
    answer, scored as wrong and said so in a note, instead of failing the evaluation."""

    def record(index: int, error: InvalidRequestError) -> str:
        refused.append(error.message)
        return ""

    return record


async def answers_of(
    stub: inference_pb2_grpc.InferenceServiceAsyncStub,
    tenant_id: str,
    spec: EvaluationSpec,
    examples: list[Example],
    notes: list[str],
    progress: Progress,
) -> dict[str, list[str]]:
    """Each model's answers, model after model (an engine batches one model best); the
    progress of each model is its own stage, "generation: <label>", from 0 to all examples."""
    out: dict[str, list[str]] = {}
    total = len(examples)
    for model in spec.models:
        answers: list[str] = []
        refused: list[str] = []

        def empty(index: int, error: InvalidRequestError, refused: list[str] = refused) -> str:
            refused.append(error.message)
            return ""  # scored as a wrong answer, and said so in a note

        stage = f"generation: {model.label}"
        await progress(stage, 0, total, f"answers 0/{total} for {model.label}")
        for start in range(0, len(examples), ROUND):
            chunk = [e.messages for e in examples[start : start + ROUND]]
            answers += await generate_answers(
                stub, tenant_id, model.name, chunk, spec.generation, ROUND, on_invalid=empty
            )
            done = len(answers)
            await progress(stage, done, total, f"answers {done}/{total} for {model.label}")
        if refused:
            notes.append(
                f"{model.label}: {len(refused)} example(s) got no answer and score 0 "
                f"({refused[0]})."
            )
        out[model.name] = answers
    return out


async def _rubric_scores(
    stub: inference_pb2_grpc.InferenceServiceAsyncStub,
    tenant_id: str,
    spec: EvaluationSpec,
    model: ModelEntry,
    questions: list[str],
    references: list[str | None],
    answers: dict[str, list[str]],
    progress: Progress,
) -> list[judge.JudgeScore]:
    """The judge's rubric score of each of `model`'s answers, a round at a time, reported
    as the stage "judge: <label>"."""
    stage, total = f"judge: {model.label}", len(questions)
    scores: list[judge.JudgeScore] = []
    await progress(stage, 0, total, f"judge 0/{total} for {model.label}")
    for start in range(0, total, ROUND):
        end = start + ROUND
        scores += await judge.rubric_scores(
            stub,
            tenant_id,
            spec.judge_model,
            questions[start:end],
            references[start:end],
            answers[model.name][start:end],
        )
        done = len(scores)
        await progress(stage, done, total, f"judge {done}/{total} for {model.label}")
    return scores


def _mean(values: list[float]) -> float | None:
    return fsum(values) / len(values) if values else None


async def evaluate(
    stub: inference_pb2_grpc.InferenceServiceAsyncStub,
    tenant_id: str,
    spec: EvaluationSpec,
    examples: list[Example],
    answers: dict[str, list[str]],
    notes: list[str],
    progress: Progress,
) -> dict[str, Any]:
    """The results JSON (without the training curves and ids the worker adds)."""
    models = spec.models
    references = [e.reference for e in examples]
    has_references = all(r is not None for r in references)
    metric_names = check_metrics(spec.metrics) if has_references else []
    # The worker decides "auto" from the file (spec.with_scoring); undecided, it is
    # language-aware. In the llamafactory mode the columns include the language-aware twins.
    scoring: Scoring = "llamafactory" if spec.scoring == "llamafactory" else "language_aware"
    columns = metric_columns(metric_names, scoring) if metric_names else []
    per_example: dict[str, dict[str, tuple[float, ...]]] = {}
    matrix: dict[str, dict[str, float]] = {}
    for index, model in enumerate(models):
        if metric_names:
            await progress("metrics", index, len(models), f"metrics {index}/{len(models)} models")
        results = (
            score(
                answers[model.name],
                [r or "" for r in references],
                metric_names,
                language=spec.language,  # type: ignore[arg-type]
                scoring=scoring,
            )
            if metric_names
            else {}
        )
        matrix[model.name] = {name: r.corpus for name, r in results.items()}
        per_example[model.name] = {name: r.per_example for name, r in results.items()}
    if metric_names:
        await progress(
            "metrics", len(models), len(models), f"metrics {len(models)}/{len(models)} models"
        )
    if "perplexity" in spec.metrics:
        notes.append("Perplexity is not part of evaluation jobs yet; it was skipped.")

    judge_scores: dict[str, list[judge.JudgeScore]] = {}
    pairwise: judge.PairwiseResult | None = None
    questions = [e.question for e in examples]
    if spec.judge_model:
        for model in models:
            judge_scores[model.name] = await _rubric_scores(
                stub, tenant_id, spec, model, questions, references, answers, progress
            )

    judge_means = {
        m.name: _mean([s.score for s in judge_scores.get(m.name, []) if s.score is not None])
        for m in models
    }
    parsed = [s.score is not None for scores in judge_scores.values() for s in scores]
    parse_rate = 100.0 * sum(parsed) / len(parsed) if parsed else None

    checks = {
        m.name: validators.run_validators(spec.validators, answers[m.name], references)
        for m in models
    }
    names = list(dict.fromkeys(n for c in checks.values() for n in c))
    rates = {
        m.name: {n: validators.pass_rate(checks[m.name].get(n, [])) for n in names} for m in models
    }
    verdict = decide(models, matrix, spec.headline_metric, judge_means, parse_rate, rates)

    if spec.judge_model and spec.judge_pairwise and len(models) >= 2:
        first = next((m for m in models if m.is_base), models[0])
        second_name = verdict.best_model if verdict.best_model != first.name else None
        second = next((m for m in models if m.name == second_name), None) or next(
            m for m in models if m is not first
        )
        # One call: the order of the two answers is drawn per example from one seeded
        # sequence, so the progress is its start and its end.
        shown = f"{first.label} vs {second.label}"
        await progress(
            "judge: pairwise", 0, len(questions), f"judge 0/{len(questions)} for {shown}"
        )
        pairwise = await judge.pairwise(
            stub,
            tenant_id,
            spec.judge_model,
            (first.name, second.name),
            questions,
            references,
            (answers[first.name], answers[second.name]),
            spec.seed,
        )
        await progress(
            "judge: pairwise",
            len(questions),
            len(questions),
            f"judge {len(questions)}/{len(questions)} for {shown}",
        )
    if not has_references and any(r is not None for r in references):
        notes.append("Some examples have no reference answer: reference metrics were skipped.")

    return {
        "models": [asdict(m) for m in models],
        "metrics": columns,
        "scoring": scoring,
        "headline_metric": verdict.headline_metric,
        "matrix": [
            {
                "model": m.name,
                "label": m.label,
                "epoch": m.epoch,
                "is_base": m.is_base,
                "metrics": matrix[m.name],
                "judge_mean": judge_means[m.name],
                "validators": rates[m.name],
            }
            for m in models
        ],
        "best_model": verdict.best_model,
        "verdict": verdict.reason,
        "suggestions": verdict.suggestions,
        "notes": notes,
        "judge": {
            "model": spec.judge_model,
            "parse_rate": parse_rate or 0.0,
            "pairwise": {
                "first_model": pairwise.first_model,
                "second_model": pairwise.second_model,
                "wins": pairwise.wins,
            }
            if pairwise
            else None,
        }
        if spec.judge_model
        else None,
        "validators": {
            n: {
                "label_zh": validators.VALIDATORS[n].label_zh,
                "label_en": validators.VALIDATORS[n].label_en,
            }
            for n in names
        },
        "examples": [
            _example_row(i, e, models, answers, per_example, judge_scores, checks, pairwise)
            for i, e in enumerate(examples)
        ],
    }


def _example_row(
    index: int,
    example: Example,
    models: list[ModelEntry],
    answers: dict[str, list[str]],
    per_example: dict[str, dict[str, tuple[float, ...]]],
    judge_scores: dict[str, list[judge.JudgeScore]],
    checks: dict[str, dict[str, list[bool | None]]],
    pairwise: judge.PairwiseResult | None,
) -> dict[str, Any]:
    outputs = {}
    for m in models:
        verdict = judge_scores[m.name][index] if m.name in judge_scores else None
        outputs[m.name] = {
            "prediction": answers[m.name][index],
            "scores": {name: values[index] for name, values in per_example[m.name].items()},
            "judge_score": verdict.score if verdict else None,
            "judge_reason": verdict.reason if verdict else None,
            "validators": {name: values[index] for name, values in checks[m.name].items()},
        }
    return {
        "index": index,
        "question": example.question,
        "reference": example.reference,
        "outputs": outputs,
        "pairwise_winner": pairwise.per_example[index] if pairwise else None,
    }
