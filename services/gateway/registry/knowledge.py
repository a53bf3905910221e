"""Knowledge bases in the registry: the gateway creates, lists, reads and deletes them.

Their chunks live in Qdrant (owned by datagen); what the registry knows of the contents
comes from ingest jobs: each successful `kb_ingest` job's result carries the knowledge
base's totals counted in the vector store when it finished, so the newest one is current.
"""

from __future__ import annotations

import contextlib
from typing import Any

from sqlalchemy import and_, or_, select

from services.gateway.registry.db import Database
from services.gateway.registry.models import Job, KnowledgeBase
from services.gateway.registry.store import Registry
from services.gateway.registry.transitions import TERMINAL, JobStatus
from tuneloop_core.errors import ConflictError, InvalidRequestError, NotFoundError

INGEST_KIND = "kb_ingest"  # the job kind (and JobKind token) that fills a knowledge base


class KnowledgeBases:
    """Operations on the `knowledge_bases` table; every read takes the tenant."""

    def __init__(self, db: Database):
        self.db = db

    def add(self, kb: KnowledgeBase) -> KnowledgeBase:
        with self.db.session() as s:
            s.add(kb)
        return kb

    def get(self, tenant_id: str, kb_id: str) -> KnowledgeBase:
        """The tenant's knowledge base; another tenant's is not found, as if absent."""
        with self.db.session() as s:
            kb = s.get(KnowledgeBase, kb_id)
        if kb is None or kb.tenant_id != tenant_id:
            raise NotFoundError(
                f"No such knowledge base: {kb_id}",
                param="knowledge_base_id",
                code="knowledge_base_not_found",
            )
        return kb

    def page(
        self, tenant_id: str, limit: int, after: str | None = None
    ) -> tuple[list[KnowledgeBase], bool]:
        """Newest first, up to `limit`, after the knowledge base `after`; and whether more
        follow (a key cursor: pages neither skip nor repeat when others are added)."""
        created, ident = KnowledgeBase.created_at, KnowledgeBase.id
        query = select(KnowledgeBase).where(KnowledgeBase.tenant_id == tenant_id)
        with self.db.session() as s:
            if after is not None:
                cursor = s.get(KnowledgeBase, after)
                if cursor is None or cursor.tenant_id != tenant_id:
                    raise InvalidRequestError(f"No such knowledge base: {after}", param="after")
                query = query.where(
                    or_(
                        created < cursor.created_at,
                        and_(created == cursor.created_at, ident < after),
                    )
                )
            rows = list(s.scalars(query.order_by(created.desc(), ident.desc()).limit(limit + 1)))
        return rows[:limit], len(rows) > limit

    def delete(self, tenant_id: str, kb_id: str) -> KnowledgeBase:
        """Remove the row and cancel its unfinished ingest jobs, so that their workers stop
        at their next document instead of filling a knowledge base that is gone."""
        kb = self.get(tenant_id, kb_id)
        unfinished = select(Job.id).where(
            Job.kind == INGEST_KIND,
            Job.tenant_id == tenant_id,
            Job.status.not_in([status.value for status in TERMINAL]),
            Job.spec["knowledge_base_id"].as_string() == kb_id,
        )
        with self.db.session() as s:
            job_ids = list(s.scalars(unfinished))
        jobs = Registry(self.db)
        for job_id in job_ids:
            with contextlib.suppress(ConflictError):  # it finished meanwhile
                jobs.transition_job(job_id, JobStatus.CANCELLED)
        with self.db.session() as s:
            s.delete(s.merge(kb))
        return kb

    def totals(self, kb_id: str) -> dict[str, int]:
        """{"n_documents", "n_chunks"} as counted by the newest successful ingest; zeros
        before the first one."""
        query = (
            select(Job.result)
            .where(
                Job.kind == INGEST_KIND,
                Job.status == JobStatus.SUCCEEDED.value,
                Job.spec["knowledge_base_id"].as_string() == kb_id,
            )
            .order_by(Job.finished_at.desc(), Job.id.desc())
            .limit(1)
        )
        with self.db.session() as s:
            result: dict[str, Any] | None = s.scalar(query)
        counted = (result or {}).get("totals") or {}
        return {key: int(counted.get(key) or 0) for key in ("n_documents", "n_chunks")}
