"""HTTP routes of `/v1/knowledge_bases` and their ingest jobs."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from services.gateway.deps import CurrentTenant, StateDep
from services.gateway.jobs import service as jobs
from services.gateway.jobs.protocol import JobObject, Page
from services.gateway.jobs.router import add_job_routes
from services.gateway.knowledge_bases import service
from services.gateway.knowledge_bases.protocol import (
    AddDocumentsRequest,
    KnowledgeBaseCreate,
    KnowledgeBaseDeleted,
    KnowledgeBaseObject,
    SearchRequest,
    SearchResults,
)

# Ingest jobs first: their static prefix must win over `/knowledge_bases/{id}`.
ingest_router = APIRouter(prefix="/knowledge_bases/ingest_jobs", tags=["knowledge bases"])
add_job_routes(ingest_router, service.INGEST)

kb_router = APIRouter(prefix="/knowledge_bases", tags=["knowledge bases"])
router = APIRouter()


@kb_router.post("", summary="Create a knowledge base")
async def create_knowledge_base(
    body: KnowledgeBaseCreate, state: StateDep, tenant: CurrentTenant
) -> KnowledgeBaseObject:
    return await service.view(state, await service.create(state, tenant, body))


@kb_router.get("", summary="List knowledge bases")
async def list_knowledge_bases(
    state: StateDep,
    tenant: CurrentTenant,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    after: str | None = None,
) -> Page[KnowledgeBaseObject]:
    kbs, more = await service.page(state, tenant, limit, after)
    return Page(data=[await service.view(state, kb) for kb in kbs], has_more=more)


@kb_router.get("/{knowledge_base_id}", summary="Get a knowledge base")
async def get_knowledge_base(
    knowledge_base_id: str, state: StateDep, tenant: CurrentTenant
) -> KnowledgeBaseObject:
    return await service.view(state, await service.get(state, tenant, knowledge_base_id))


@kb_router.delete("/{knowledge_base_id}", summary="Delete a knowledge base and its chunks")
async def delete_knowledge_base(
    knowledge_base_id: str, state: StateDep, tenant: CurrentTenant
) -> KnowledgeBaseDeleted:
    kb = await service.delete(state, tenant, knowledge_base_id)
    return KnowledgeBaseDeleted(id=kb.id)


@kb_router.post("/{knowledge_base_id}/documents", summary="Add documents (an ingest job)")
async def add_documents(
    knowledge_base_id: str, body: AddDocumentsRequest, state: StateDep, tenant: CurrentTenant
) -> JobObject:
    job = await service.add_documents(state, tenant, knowledge_base_id, body)
    return jobs.job_view(service.INGEST, job)


@kb_router.post("/{knowledge_base_id}/search", summary="Hit testing: the nearest chunks")
async def search_knowledge_base(
    knowledge_base_id: str, body: SearchRequest, state: StateDep, tenant: CurrentTenant
) -> SearchResults:
    hits = await service.search(
        state, tenant, knowledge_base_id, body.query, body.top_k, body.score_threshold
    )
    return SearchResults(data=hits)


router.include_router(ingest_router)
router.include_router(kb_router)
