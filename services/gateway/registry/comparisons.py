"""Votes on the answers of a comparison: one thumbs-up per answer per API key.

The caller has already checked that the comparison belongs to the voter's tenant and that
the question and model exist; this module only counts.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError

from services.gateway.registry.db import Database
from services.gateway.registry.models import ComparisonVote


@dataclass(frozen=True)
class AnswerTally:
    """Votes one answer (a model's, to one question) received."""

    question_index: int
    model: str
    votes: int


class ComparisonVotes:
    def __init__(self, db: Database):
        self.db = db

    def _exists(self, comparison_id: str, question_index: int, model: str, key_id: str) -> bool:
        query = select(ComparisonVote.id).where(
            ComparisonVote.comparison_id == comparison_id,
            ComparisonVote.question_index == question_index,
            ComparisonVote.model == model,
            ComparisonVote.api_key_id == key_id,
        )
        with self.db.session() as s:
            return s.scalar(query) is not None

    def add(self, comparison_id: str, question_index: int, model: str, key_id: str) -> bool:
        """Record the key's vote; False when it had already voted for this answer."""
        if self._exists(comparison_id, question_index, model, key_id):
            return False
        vote = ComparisonVote(
            comparison_id=comparison_id,
            question_index=question_index,
            model=model,
            api_key_id=key_id,
        )
        try:
            with self.db.session() as s:
                s.add(vote)
        except IntegrityError:
            # The same key voted concurrently (a double click); the unique constraint
            # kept one vote, which is what was asked.
            if self._exists(comparison_id, question_index, model, key_id):
                return False
            raise
        return True

    def withdraw(self, comparison_id: str, question_index: int, model: str, key_id: str) -> bool:
        """Remove the key's vote; False when there was none."""
        statement = delete(ComparisonVote).where(
            ComparisonVote.comparison_id == comparison_id,
            ComparisonVote.question_index == question_index,
            ComparisonVote.model == model,
            ComparisonVote.api_key_id == key_id,
        )
        with self.db.session() as s:
            return bool(s.execute(statement).rowcount)  # type: ignore[attr-defined]

    def tallies(self, comparison_id: str) -> list[AnswerTally]:
        """Every answer with at least one vote, by question then model."""
        query = (
            select(ComparisonVote.question_index, ComparisonVote.model, func.count())
            .where(ComparisonVote.comparison_id == comparison_id)
            .group_by(ComparisonVote.question_index, ComparisonVote.model)
            .order_by(ComparisonVote.question_index, ComparisonVote.model)
        )
        with self.db.session() as s:
            return [AnswerTally(q, m, n) for q, m, n in s.execute(query)]

    def of_key(self, comparison_id: str, key_id: str) -> list[tuple[int, str]]:
        """(question index, model) of every answer this key voted for."""
        query = (
            select(ComparisonVote.question_index, ComparisonVote.model)
            .where(
                ComparisonVote.comparison_id == comparison_id,
                ComparisonVote.api_key_id == key_id,
            )
            .order_by(ComparisonVote.question_index, ComparisonVote.model)
        )
        with self.db.session() as s:
            return [(q, m) for q, m in s.execute(query)]
