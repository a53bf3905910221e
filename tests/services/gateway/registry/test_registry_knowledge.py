"""Knowledge bases in the registry: tenancy, paging, and totals from ingest jobs (on SQLite,
and on PostgreSQL when configured: the totals query reads a JSON field)."""

from __future__ import annotations

import pytest

from services.gateway.registry.knowledge import INGEST_KIND, KnowledgeBases
from services.gateway.registry.models import KnowledgeBase
from services.gateway.registry.store import Registry
from services.gateway.registry.transitions import JobStatus
from tuneloop_core.errors import InvalidRequestError, NotFoundError


def make_kb(tenant_id: str, kb_id: str, created_at: int) -> KnowledgeBase:
    return KnowledgeBase(
        id=kb_id, tenant_id=tenant_id, name=kb_id, embedding_model="m", created_at=created_at
    )


def finish_ingest(
    registry: Registry, tenant_id: str, kb_id: str, job_id: str, **totals: int
) -> None:
    registry.create_job(tenant_id, INGEST_KIND, {"knowledge_base_id": kb_id}, job_id=job_id)
    registry.transition_job(job_id, JobStatus.RUNNING)
    registry.transition_job(job_id, JobStatus.SUCCEEDED, result={"totals": totals})


def test_another_tenants_knowledge_base_is_not_found(registry: Registry) -> None:
    acme, globex = registry.ensure_tenant("acme").id, registry.ensure_tenant("globex").id
    kbs = KnowledgeBases(registry.db)
    kbs.add(make_kb(acme, "kb-a", 100))
    assert kbs.get(acme, "kb-a").name == "kb-a"
    assert kbs.get(acme, "kb-a").top_k == 5 and kbs.get(acme, "kb-a").score_threshold == 0.5
    with pytest.raises(NotFoundError) as raised:
        kbs.get(globex, "kb-a")
    assert raised.value.param == "knowledge_base_id"
    with pytest.raises(NotFoundError):
        kbs.delete(globex, "kb-a")
    assert kbs.page(globex, 10) == ([], False)
    kbs.delete(acme, "kb-a")
    with pytest.raises(NotFoundError):
        kbs.get(acme, "kb-a")


def test_pages_are_newest_first_with_a_key_cursor(registry: Registry) -> None:
    acme = registry.ensure_tenant("acme").id
    kbs = KnowledgeBases(registry.db)
    for i in range(5):
        kbs.add(make_kb(acme, f"kb-{i}", 100 + i))
    first, more = kbs.page(acme, 2)
    assert [k.id for k in first] == ["kb-4", "kb-3"] and more
    second, more = kbs.page(acme, 2, after="kb-3")
    assert [k.id for k in second] == ["kb-2", "kb-1"] and more
    last, more = kbs.page(acme, 2, after="kb-1")
    assert [k.id for k in last] == ["kb-0"] and not more
    with pytest.raises(InvalidRequestError):
        kbs.page(acme, 2, after="kb-nope")


def test_totals_come_from_the_newest_successful_ingest(registry: Registry) -> None:
    acme = registry.ensure_tenant("acme").id
    kbs = KnowledgeBases(registry.db)
    kbs.add(make_kb(acme, "kb-a", 100))
    kbs.add(make_kb(acme, "kb-b", 100))
    assert kbs.totals("kb-a") == {"n_documents": 0, "n_chunks": 0}
    finish_ingest(registry, acme, "kb-a", "kbjob-1", n_documents=1, n_chunks=4)
    finish_ingest(registry, acme, "kb-b", "kbjob-2", n_documents=9, n_chunks=90)
    registry.create_job(acme, INGEST_KIND, {"knowledge_base_id": "kb-a"}, job_id="kbjob-3")
    assert kbs.totals("kb-a") == {"n_documents": 1, "n_chunks": 4}  # kbjob-3 is still queued
    finish_ingest(registry, acme, "kb-a", "kbjob-4", n_documents=2, n_chunks=7)
    assert kbs.totals("kb-a") == {"n_documents": 2, "n_chunks": 7}


def test_delete_cancels_unfinished_ingest_jobs_of_that_knowledge_base(registry: Registry) -> None:
    acme = registry.ensure_tenant("acme").id
    kbs = KnowledgeBases(registry.db)
    kbs.add(make_kb(acme, "kb-a", 100))
    kbs.add(make_kb(acme, "kb-b", 100))
    finish_ingest(registry, acme, "kb-a", "kbjob-done", n_documents=1, n_chunks=1)
    registry.create_job(acme, INGEST_KIND, {"knowledge_base_id": "kb-a"}, job_id="kbjob-queued")
    registry.create_job(acme, INGEST_KIND, {"knowledge_base_id": "kb-b"}, job_id="kbjob-other")
    kbs.delete(acme, "kb-a")
    assert registry.get_job("kbjob-queued").status == "cancelled"
    assert registry.get_job("kbjob-done").status == "succeeded"
    assert registry.get_job("kbjob-other").status == "queued"
