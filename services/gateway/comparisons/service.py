"""Comparisons: check and queue one, show its answers side by side, export them as CSV.
No FastAPI here; the evaluator's comparison worker generates the answers."""

from __future__ import annotations

import asyncio
import csv
import io

from services.gateway.comparisons.protocol import (
    Answer,
    ComparisonObject,
    ComparisonRow,
    CreateComparisonRequest,
)
from services.gateway.comparisons.questions import check_questions, questions_from_file
from services.gateway.jobs import service as jobs
from services.gateway.jobs.service import JobKind
from services.gateway.preference_files import PreferenceFileObject, from_votes, save
from services.gateway.registry.comparisons import AnswerTally
from services.gateway.registry.models import Job, Tenant
from services.gateway.registry.transitions import JobStatus
from services.gateway.served_models import served_model_names, unknown_model
from services.gateway.state import GatewayState
from tuneloop.evaluator.v1 import evaluator_pb2
from tuneloop_core.comparison_answers import ComparisonAnswers, read_answers
from tuneloop_core.errors import (
    ConflictError,
    InternalError,
    InvalidRequestError,
    NotFoundError,
)

KIND = JobKind(
    token="comparison",
    object="comparison",
    noun="comparison",
    param="comparison_id",
    spec_type=evaluator_pb2.ComparisonJobSpec,
)
# Leading characters that make Excel or LibreOffice read a cell as a formula; an answer a
# model wrote must never run as one on the machine of whoever opens the CSV.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


async def _check_models(state: GatewayState, tenant: Tenant, models: list[str]) -> None:
    """Every model must be servable for this tenant (a base model or its own adapter)."""
    seen: set[str] = set()
    for name in models:
        if name in seen:
            raise InvalidRequestError(
                f"Model '{name}' is listed twice", param="models", code="duplicate_model"
            )
        seen.add(name)
    available = await served_model_names(state, tenant)
    unknown = [name for name in models if name not in available]
    if unknown:
        raise unknown_model(unknown[0], "models", available)


async def create(state: GatewayState, tenant: Tenant, req: CreateComparisonRequest) -> Job:
    if (req.questions is None) == (req.questions_file is None):
        raise InvalidRequestError(
            "Give the questions either as `questions` (a list of strings) or as "
            "`questions_file` (the id of an uploaded JSON array of strings), not both or neither",
            param="questions",
        )
    if req.questions is not None:
        questions = check_questions(req.questions, "questions")
    else:
        assert req.questions_file is not None
        questions = await questions_from_file(state, tenant, req.questions_file)
    await _check_models(state, tenant, req.models)
    # The questions travel in the spec, so the worker needs no file access and a file
    # deleted later does not change what was compared.
    spec = evaluator_pb2.ComparisonJobSpec(
        models=req.models,
        questions=questions,
        questions_file=req.questions_file or "",
        max_tokens=req.max_tokens,
        temperature=req.temperature,
        top_p=req.top_p,
        system=req.system or "",
    )
    return await jobs.submit(state, tenant, KIND, spec)


def spec_models(job: Job) -> list[str]:
    return [str(m) for m in (job.spec or {}).get("models", [])]


def spec_questions(job: Job) -> list[str]:
    return [str(q) for q in (job.spec or {}).get("questions", [])]


def load_answers(state: GatewayState, job: Job) -> ComparisonAnswers | None:
    """The answers of a succeeded comparison; None while it has none (blocking)."""
    if job.status != JobStatus.SUCCEEDED or not job.result:
        return None
    try:
        return read_answers(state.artifacts, str(job.result["answers_file"]))
    except NotFoundError:
        # Not the caller's 404: the comparison exists, its stored answers do not.
        raise InternalError(f"the answers of comparison {job.id} are missing") from None


def _votes_lookup(tallies: list[AnswerTally]) -> dict[tuple[int, str], int]:
    return {(t.question_index, t.model): t.votes for t in tallies}


def _by_model(models: list[str], tallies: list[AnswerTally]) -> dict[str, int]:
    totals = dict.fromkeys(models, 0)
    for tally in tallies:
        totals[tally.model] = totals.get(tally.model, 0) + tally.votes
    return totals


def _view(
    job: Job, answers: ComparisonAnswers | None, tallies: list[AnswerTally]
) -> ComparisonObject:
    base = jobs.job_view(KIND, job)
    models = spec_models(job)
    votes = _votes_lookup(tallies)
    rows = None
    if answers is not None:
        rows = [
            ComparisonRow(
                question_index=q,
                question=question,
                answers=[
                    Answer(model=model, text=answers.answers[q][m], votes=votes.get((q, model), 0))
                    for m, model in enumerate(answers.models)
                ],
            )
            for q, question in enumerate(answers.questions)
        ]
    return ComparisonObject(
        **base.model_dump(), models=models, rows=rows, votes_by_model=_by_model(models, tallies)
    )


async def _read(
    state: GatewayState, job: Job
) -> tuple[ComparisonAnswers | None, list[AnswerTally]]:
    answers = await asyncio.to_thread(load_answers, state, job)
    return answers, await state.registry.votes.tallies(job.id)


async def view(state: GatewayState, tenant: Tenant, comparison_id: str) -> ComparisonObject:
    job = await jobs.get(state, tenant, KIND, comparison_id)
    answers, tallies = await _read(state, job)
    return _view(job, answers, tallies)


async def finished(state: GatewayState, tenant: Tenant, comparison_id: str) -> Job:
    """The tenant's comparison, which must have its answers (votes and exports need them)."""
    job = await jobs.get(state, tenant, KIND, comparison_id)
    if job.status != JobStatus.SUCCEEDED:
        raise ConflictError(
            f"Comparison {comparison_id} is {job.status}; its answers are there once it has "
            "succeeded",
            param=KIND.param,
            code="comparison_not_ready",
        )
    return job


def csv_cell(text: str) -> str:
    """The text as a spreadsheet shows it, never as a formula (OWASP's CSV-injection fix)."""
    return f"'{text}" if text.startswith(FORMULA_STARTS) else text


def _csv(answers: ComparisonAnswers, tallies: list[AnswerTally]) -> bytes:
    votes = _votes_lookup(tallies)
    out = io.StringIO()
    writer = csv.writer(out)
    header = ["question"]
    for model in answers.models:
        header += [f"{model} answer", f"{model} votes"]
    writer.writerow(header)
    for q, question in enumerate(answers.questions):
        row = [csv_cell(question)]
        for m, model in enumerate(answers.models):
            row += [csv_cell(answers.answers[q][m]), str(votes.get((q, model), 0))]
        writer.writerow(row)
    # utf-8-sig: the BOM is how Excel knows the file is UTF-8 (else Chinese is garbled).
    return out.getvalue().encode("utf-8-sig")


async def export_csv(state: GatewayState, tenant: Tenant, comparison_id: str) -> bytes:
    """One row per question: the question, then each model's answer and its votes."""
    job = await finished(state, tenant, comparison_id)
    answers, tallies = await _read(state, job)
    assert answers is not None  # a succeeded comparison has its answers
    return _csv(answers, tallies)


async def preference_file(
    state: GatewayState, tenant: Tenant, comparison_id: str
) -> PreferenceFileObject:
    """The votes as a DPO training file: the most-voted answer of each question preferred."""
    job = await finished(state, tenant, comparison_id)
    answers, tallies = await _read(state, job)
    assert answers is not None  # a succeeded comparison has its answers
    system = str((job.spec or {}).get("system", ""))
    preferences = from_votes(comparison_id, answers, tallies, system)
    return await save(state, tenant, preferences, f"{comparison_id}-votes.jsonl", "votes")
