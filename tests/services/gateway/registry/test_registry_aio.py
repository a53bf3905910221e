"""The registry as the gateway awaits it: the same operations, on the registry's own
threads (the one boundary between the event loop and the database), errors unchanged."""

from __future__ import annotations

import asyncio
import threading

import pytest

from services.gateway.registry.aio import AsyncRegistry
from services.gateway.registry.models import KnowledgeBase
from services.gateway.registry.transitions import JobStatus
from tuneloop_core.errors import ConflictError, NotFoundError


async def test_operations_run_on_the_registrys_threads(database_url: str) -> None:
    registry = AsyncRegistry.connect(database_url)
    try:
        tenant = registry.sync.ensure_tenant("acme")
        created = await registry.create_job(tenant.id, "fine_tune", {"seed": 7}, job_id="ftjob-1")
        assert (await registry.get_job("ftjob-1", tenant.id)).spec == created.spec == {"seed": 7}
        done = await registry.transition_job("ftjob-1", JobStatus.CANCELLED)
        assert done.status == JobStatus.CANCELLED
        with pytest.raises(ConflictError):
            await registry.transition_job("ftjob-1", JobStatus.RUNNING)
        with pytest.raises(NotFoundError):
            await registry.get_job("ftjob-1", "another-tenant")
        kb = KnowledgeBase(id="kb-1", tenant_id=tenant.id, name="docs", embedding_model="e")
        await registry.knowledge_bases.add(kb)
        assert await registry.knowledge_bases.totals("kb-1") == {"n_documents": 0, "n_chunks": 0}
        assert await registry.ping() is True

        names = await asyncio.gather(
            *(registry.run(lambda: threading.current_thread().name) for _ in range(4))
        )
        assert all(name.startswith("registry") for name in names)
        assert threading.current_thread().name not in names  # never on the event loop's
    finally:
        registry.close()
