"""Thumbs-ups on a comparison's answers: one per answer per API key, withdrawable."""

from __future__ import annotations

from services.gateway.comparisons.protocol import (
    QuestionVotes,
    VotedAnswer,
    VoteObject,
    VoteRequest,
    VoteTallies,
)
from services.gateway.comparisons.service import (
    KIND,
    finished,
    spec_models,
    spec_questions,
)
from services.gateway.jobs import service as jobs
from services.gateway.registry.comparisons import ComparisonVotes
from services.gateway.registry.models import ApiKey, Job, Tenant
from services.gateway.state import GatewayState
from tuneloop_core.errors import InvalidRequestError


def _check_answer(job: Job, question_index: int, model: str) -> None:
    questions = spec_questions(job)
    if question_index >= len(questions):
        raise InvalidRequestError(
            f"question_index {question_index} is out of range: the comparison has "
            f"{len(questions)} questions (0 to {len(questions) - 1})",
            param="question_index",
        )
    if model not in spec_models(job):
        raise InvalidRequestError(
            f"Model '{model}' is not part of this comparison; its models: "
            f"{', '.join(spec_models(job))}",
            param="model",
            code="model_not_found",
        )


def _vote(store: ComparisonVotes, job: Job, req: VoteRequest, key: ApiKey) -> VoteObject:
    if req.withdraw:
        store.withdraw(job.id, req.question_index, req.model, key.id)
    else:
        store.add(job.id, req.question_index, req.model, key.id)
    votes = sum(
        t.votes
        for t in store.tallies(job.id)
        if (t.question_index, t.model) == (req.question_index, req.model)
    )
    return VoteObject(
        comparison_id=job.id,
        question_index=req.question_index,
        model=req.model,
        voted=not req.withdraw,
        votes=votes,
    )


async def vote(
    state: GatewayState, tenant: Tenant, key: ApiKey, comparison_id: str, req: VoteRequest
) -> VoteObject:
    """Give (or withdraw) the key's thumbs-up; doing either twice changes nothing."""
    job = await finished(state, tenant, comparison_id)
    _check_answer(job, req.question_index, req.model)
    votes = state.registry.votes
    return await votes.run(_vote, votes.sync, job, req, key)


def _tallies(store: ComparisonVotes, job: Job, key: ApiKey) -> VoteTallies:
    models = spec_models(job)
    by_model = dict.fromkeys(models, 0)
    by_question = [
        QuestionVotes(question_index=q, votes=dict.fromkeys(models, 0))
        for q in range(len(spec_questions(job)))
    ]
    for tally in store.tallies(job.id):
        by_model[tally.model] = by_model.get(tally.model, 0) + tally.votes
        if tally.question_index < len(by_question):
            by_question[tally.question_index].votes[tally.model] = tally.votes
    return VoteTallies(
        comparison_id=job.id,
        total=sum(by_model.values()),
        by_model=by_model,
        by_question=by_question,
        yours=[VotedAnswer(question_index=q, model=m) for q, m in store.of_key(job.id, key.id)],
    )


async def tallies(
    state: GatewayState, tenant: Tenant, key: ApiKey, comparison_id: str
) -> VoteTallies:
    """Votes per model and per question, and which answers the calling key voted for."""
    job = await jobs.get(state, tenant, KIND, comparison_id)
    votes = state.registry.votes
    return await votes.run(_tallies, votes.sync, job, key)
