"""Knowledge bases: the registry row here, the chunks in datagen's vector store (no FastAPI).

A knowledge base is checked against the tenant in the registry before datagen is asked
anything, so another tenant's id is 404 exactly as an unknown one; datagen filters on
the tenant again on its side.
"""

from __future__ import annotations

from services.gateway.ids import PREFIXES, new_id
from services.gateway.jobs import service as jobs
from services.gateway.jobs.service import JobKind
from services.gateway.knowledge_bases.protocol import (
    AddDocumentsRequest,
    KnowledgeBaseCreate,
    KnowledgeBaseObject,
    SearchHitObject,
    Source,
)
from services.gateway.registry.knowledge import INGEST_KIND
from services.gateway.registry.models import Job, KnowledgeBase, Tenant
from services.gateway.state import GatewayState
from tuneloop.datagen.v1 import datagen_pb2
from tuneloop.inference.v1 import inference_pb2
from tuneloop_core.errors import InvalidRequestError, NotFoundError
from tuneloop_core.grpc.client import call

INGEST = JobKind(
    token=INGEST_KIND,
    object="knowledge_base.ingest_job",
    noun="knowledge-base ingest job",
    param="job_id",
    spec_type=datagen_pb2.KbIngestJobSpec,
)
SEARCH_TIMEOUT_S = 30.0
HEADING_SEPARATOR = " > "


async def view(state: GatewayState, kb: KnowledgeBase) -> KnowledgeBaseObject:
    totals = await state.registry.knowledge_bases.totals(kb.id)
    return KnowledgeBaseObject(
        id=kb.id,
        created_at=kb.created_at,
        name=kb.name,
        description=kb.description,
        embedding_model=kb.embedding_model,
        top_k=kb.top_k,
        score_threshold=kb.score_threshold,
        **totals,
    )


async def create(state: GatewayState, tenant: Tenant, body: KnowledgeBaseCreate) -> KnowledgeBase:
    """Record a knowledge base with the embedding model that will serve it, by name: one
    embedding of its name checks the model is served and tells the default's name."""
    probe = inference_pb2.EmbedRequest(
        model=body.embedding_model or "", texts=[body.name], normalize=True
    )
    try:
        reply = await call(state.clients.inference.Embed, probe)
    except (InvalidRequestError, NotFoundError) as exc:  # the model is not served
        raise type(exc)(exc.message, code=exc.code, param="embedding_model") from exc
    kb = KnowledgeBase(
        id=new_id(PREFIXES["knowledge_base"]),
        tenant_id=tenant.id,
        name=body.name,
        description=body.description,
        embedding_model=reply.model or body.embedding_model or "",
        top_k=body.top_k,
        score_threshold=body.score_threshold,
    )
    return await state.registry.knowledge_bases.add(kb)


async def get(state: GatewayState, tenant: Tenant, kb_id: str) -> KnowledgeBase:
    return await state.registry.knowledge_bases.get(tenant.id, kb_id)


async def page(
    state: GatewayState, tenant: Tenant, limit: int, after: str | None
) -> tuple[list[KnowledgeBase], bool]:
    return await state.registry.knowledge_bases.page(tenant.id, limit, after)


async def delete(state: GatewayState, tenant: Tenant, kb_id: str) -> KnowledgeBase:
    """Chunks first: if datagen cannot be reached the row stays and a retry can finish."""
    kb = await get(state, tenant, kb_id)
    request = datagen_pb2.DeleteKnowledgeBaseRequest(
        knowledge_base_id=kb.id, tenant_id=tenant.id, embedding_model=kb.embedding_model
    )
    await call(state.clients.datagen.DeleteKnowledgeBase, request)
    return await state.registry.knowledge_bases.delete(tenant.id, kb_id)


async def add_documents(
    state: GatewayState, tenant: Tenant, kb_id: str, body: AddDocumentsRequest
) -> Job:
    """Queue a kb_ingest job. Unknown file ids are refused now (404); what is wrong inside
    a file (empty, unsupported, unreadable) is reported per document by the job."""
    kb = await get(state, tenant, kb_id)
    file_ids = list(dict.fromkeys(body.file_ids))  # once each, in the order given
    for file_id in file_ids:
        await state.registry.get_file(tenant.id, file_id)
    chunking = body.chunking
    spec = datagen_pb2.KbIngestJobSpec(
        knowledge_base_id=kb.id,
        embedding_model=kb.embedding_model,
        file_ids=file_ids,
        chunking=datagen_pb2.Chunking(
            size=chunking.size, overlap=chunking.overlap, unit=chunking.unit
        ),
    )
    return await jobs.submit(state, tenant, INGEST, spec)


async def search(
    state: GatewayState,
    tenant: Tenant,
    kb_id: str,
    query: str,
    top_k: int | None,
    score_threshold: float | None,
) -> list[SearchHitObject]:
    """The chunks nearest to `query`, best first; top_k and threshold default to the
    knowledge base's own (what a RAG answer on it would use)."""
    kb = await get(state, tenant, kb_id)
    request = datagen_pb2.SearchKnowledgeBaseRequest(
        knowledge_base_id=kb.id,
        tenant_id=tenant.id,
        query=query,
        top_k=top_k or kb.top_k,
        score_threshold=kb.score_threshold if score_threshold is None else score_threshold,
        embedding_model=kb.embedding_model,
    )
    reply = await call(state.clients.datagen.SearchKnowledgeBase, request, SEARCH_TIMEOUT_S)
    return [hit_view(hit) for hit in reply.hits]


def hit_view(hit: datagen_pb2.SearchHit) -> SearchHitObject:
    return SearchHitObject(
        text=hit.text,
        score=round(hit.score, 6),  # float32 on the wire; more digits are noise
        source=Source(
            document=hit.filename,
            file_id=hit.file_id,
            page=hit.page or None,
            heading_path=[p for p in hit.heading_path.split(HEADING_SEPARATOR) if p],
            chunk_index=hit.chunk_index,
        ),
    )
