"""Evals and their runs in the registry. Every read takes the tenant: another tenant's eval
or run is not found, as if absent. A run's state is its job's (`Job`, kind "eval_run")."""

from __future__ import annotations

import contextlib
from typing import Any, Literal

from sqlalchemy import and_, delete, or_, select

from services.gateway.registry.db import Database
from services.gateway.registry.models import Eval, EvalRun, Job
from services.gateway.registry.store import Registry
from services.gateway.registry.transitions import TERMINAL, JobStatus
from tuneloop_core.errors import ConflictError, InvalidRequestError, NotFoundError

Order = Literal["asc", "desc"]


def _after(model: Any, cursor: Any, order: Order) -> Any:
    """Rows past the cursor row in (created_ns, id) order: seconds cannot tell apart evals
    created in the same second, and random ids would then order them by chance."""
    created, ident = model.created_ns, model.id
    if order == "desc":
        return or_(
            created < cursor.created_ns, and_(created == cursor.created_ns, ident < cursor.id)
        )
    return or_(created > cursor.created_ns, and_(created == cursor.created_ns, ident > cursor.id))


def _ordered(query: Any, model: Any, order: Order) -> Any:
    if order == "desc":
        return query.order_by(model.created_ns.desc(), model.id.desc())
    return query.order_by(model.created_ns.asc(), model.id.asc())


class Evals:
    """Operations on the `evals` and `eval_runs` tables."""

    def __init__(self, db: Database):
        self.db = db

    def add(self, record: Eval) -> Eval:
        with self.db.session() as s:
            s.add(record)
        return record

    def get(self, tenant_id: str, eval_id: str) -> Eval:
        with self.db.session() as s:
            record = s.get(Eval, eval_id)
        if record is None or record.tenant_id != tenant_id:
            raise NotFoundError(f"No such eval: {eval_id}", param="eval_id", code="eval_not_found")
        return record

    def update(
        self, tenant_id: str, eval_id: str, name: str | None, meta: dict[str, Any] | None
    ) -> Eval:
        self.get(tenant_id, eval_id)
        with self.db.session() as s:
            record = s.get(Eval, eval_id)
            assert record is not None
            if name is not None:
                record.name = name
            if meta is not None:
                record.meta = meta
        return record

    def page(
        self, tenant_id: str, limit: int, after: str | None, order: Order
    ) -> tuple[list[Eval], bool]:
        query = select(Eval).where(Eval.tenant_id == tenant_id)
        with self.db.session() as s:
            if after is not None:
                cursor = s.get(Eval, after)
                if cursor is None or cursor.tenant_id != tenant_id:
                    raise InvalidRequestError(f"No such eval: {after}", param="after")
                query = query.where(_after(Eval, cursor, order))
            rows = list(s.scalars(_ordered(query, Eval, order).limit(limit + 1)))
        return rows[:limit], len(rows) > limit

    def delete(self, tenant_id: str, eval_id: str) -> Eval:
        """Remove the eval and its runs; runs still working are cancelled first, so their
        workers stop at the next batch."""
        record = self.get(tenant_id, eval_id)
        with self.db.session() as s:
            run_ids = list(s.scalars(select(EvalRun.id).where(EvalRun.eval_id == eval_id)))
        for run_id in run_ids:
            self._cancel_unfinished(run_id)
        with self.db.session() as s:
            s.execute(delete(EvalRun).where(EvalRun.eval_id == eval_id))
            s.delete(s.merge(record))
        return record

    # --- runs ---------------------------------------------------------------------------

    def add_run(self, run: EvalRun) -> EvalRun:
        with self.db.session() as s:
            s.add(run)
        return run

    def get_run(self, tenant_id: str, eval_id: str, run_id: str) -> tuple[EvalRun, Job]:
        """The run of this eval with its job; any mismatch is not found."""
        with self.db.session() as s:
            run = s.get(EvalRun, run_id)
            job = s.get(Job, run_id) if run is not None else None
        if run is None or job is None or run.tenant_id != tenant_id or run.eval_id != eval_id:
            raise NotFoundError(
                f"No such run: {run_id} of eval {eval_id}", param="run_id", code="run_not_found"
            )
        return run, job

    def page_runs(
        self,
        tenant_id: str,
        eval_id: str,
        limit: int,
        after: str | None,
        order: Order,
        statuses: list[str] | None = None,
    ) -> tuple[list[tuple[EvalRun, Job]], bool]:
        """The eval's runs with their jobs; `statuses` filters by job status."""
        query = (
            select(EvalRun, Job)
            .join(Job, Job.id == EvalRun.id)
            .where(EvalRun.tenant_id == tenant_id, EvalRun.eval_id == eval_id)
        )
        if statuses is not None:
            query = query.where(Job.status.in_(statuses))
        with self.db.session() as s:
            if after is not None:
                cursor = s.get(EvalRun, after)
                if cursor is None or cursor.tenant_id != tenant_id or cursor.eval_id != eval_id:
                    raise InvalidRequestError(f"No such run: {after}", param="after")
                query = query.where(_after(EvalRun, cursor, order))
            rows = [(r, j) for r, j in s.execute(_ordered(query, EvalRun, order).limit(limit + 1))]
        return rows[:limit], len(rows) > limit

    def delete_run(self, tenant_id: str, eval_id: str, run_id: str) -> None:
        """Cancel the run if it still works, and forget it."""
        self.get_run(tenant_id, eval_id, run_id)
        self._cancel_unfinished(run_id)
        with self.db.session() as s:
            s.execute(delete(EvalRun).where(EvalRun.id == run_id))

    def _cancel_unfinished(self, run_id: str) -> None:
        jobs = Registry(self.db)
        if JobStatus(jobs.get_job(run_id).status) not in TERMINAL:
            with contextlib.suppress(ConflictError):  # it finished meanwhile
                jobs.transition_job(run_id, JobStatus.CANCELLED)
