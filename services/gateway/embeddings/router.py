"""HTTP route of `/v1/embeddings`."""

from __future__ import annotations

from fastapi import APIRouter

from services.gateway.deps import StateDep
from services.gateway.embeddings import service
from services.gateway.embeddings.protocol import EmbeddingList, EmbeddingRequest

router = APIRouter(tags=["embeddings"])


@router.post("/embeddings")
async def create_embeddings(body: EmbeddingRequest, state: StateDep) -> EmbeddingList:
    return await service.embed(state.clients, body, state.settings.rpc_timeout_s)
