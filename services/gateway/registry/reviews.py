"""Reviews of generated pairs (datagen): what a person edited, confirmed or dropped.

The caller has already checked that the job belongs to the reviewer's tenant and that the
pair exists in it; this module only stores.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from services.gateway.registry.db import Database
from services.gateway.registry.models import DatagenPairReview, now_s

_FIELDS = ("question", "answer", "confirmed", "dropped")


class PairReviews:
    def __init__(self, db: Database):
        self.db = db

    def of_job(self, job_id: str) -> dict[str, DatagenPairReview]:
        """Every reviewed pair of a job, by pair id."""
        query = select(DatagenPairReview).where(DatagenPairReview.job_id == job_id)
        with self.db.session() as s:
            return {r.pair_id: r for r in s.scalars(query)}

    def save(
        self, job_id: str, pair_id: str, changes: dict[str, str | bool | None]
    ) -> DatagenPairReview:
        """Apply `changes` (question, answer, confirmed, dropped) to the pair's review,
        creating it on first use; returns the review as stored."""
        unknown = set(changes) - set(_FIELDS)
        if unknown:
            raise ValueError(f"unknown review fields: {sorted(unknown)}")
        try:
            return self._save(job_id, pair_id, changes)
        except IntegrityError:  # a concurrent first review of the same pair won the insert
            return self._save(job_id, pair_id, changes)

    def _save(
        self, job_id: str, pair_id: str, changes: dict[str, str | bool | None]
    ) -> DatagenPairReview:
        with self.db.session() as s:
            review = s.get(DatagenPairReview, (job_id, pair_id), with_for_update=True)
            if review is None:
                review = DatagenPairReview(
                    job_id=job_id, pair_id=pair_id, confirmed=False, dropped=False
                )
                s.add(review)
            for name, value in changes.items():
                setattr(review, name, value)
            review.updated_at = now_s()
            s.flush()
            s.expunge(review)
        return review
