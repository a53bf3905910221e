"""Retrieval: embed a query through the inference service and look it up in the store;
also the embedding of chunks at ingest and the deletion of a knowledge base."""

from __future__ import annotations

from services.datagen.knowledge.store import KnowledgeStore, ScoredChunk
from tuneloop.datagen.v1 import datagen_pb2
from tuneloop.inference.v1 import inference_pb2, inference_pb2_grpc
from tuneloop_core.errors import InternalError, InvalidRequestError
from tuneloop_core.grpc.client import call

DEFAULT_TOP_K = 5
MAX_TOP_K = 100
# Texts per Embed call: bounds one request's size and the inference service's batch.
EMBED_BATCH = 32
EMBED_TIMEOUT_S = 300.0


class Knowledge:
    """What the datagen service does with knowledge bases besides ingesting them."""

    def __init__(
        self, store: KnowledgeStore, inference: inference_pb2_grpc.InferenceServiceAsyncStub
    ):
        self.store = store
        self.inference = inference

    async def embed(self, model: str, texts: list[str]) -> tuple[str, list[list[float]]]:
        """(the model that embedded them, one L2-normalised vector per text)."""
        vectors: list[list[float]] = []
        served = model
        for start in range(0, len(texts), EMBED_BATCH):
            request = inference_pb2.EmbedRequest(
                model=model, texts=texts[start : start + EMBED_BATCH], normalize=True
            )
            reply = await call(self.inference.Embed, request, timeout_s=EMBED_TIMEOUT_S)
            served = reply.model or served
            vectors.extend(list(e.values) for e in reply.embeddings)
        if len(vectors) != len(texts):
            raise InternalError(f"Embed returned {len(vectors)} vectors for {len(texts)} texts")
        return served, vectors

    async def search(
        self, request: datagen_pb2.SearchKnowledgeBaseRequest
    ) -> datagen_pb2.SearchKnowledgeBaseResponse:
        query = request.query.strip()
        if not query:
            raise InvalidRequestError("query must not be empty", param="query")
        if not request.knowledge_base_id or not request.tenant_id:
            raise InvalidRequestError(
                "knowledge_base_id and tenant_id are required", param="knowledge_base_id"
            )
        top_k = request.top_k or DEFAULT_TOP_K
        if not 1 <= top_k <= MAX_TOP_K:
            raise InvalidRequestError(f"top_k must be in [1, {MAX_TOP_K}]", param="top_k")
        if not 0 <= request.score_threshold <= 1:
            raise InvalidRequestError("score_threshold must be in [0, 1]", param="score_threshold")
        model, (vector,) = await self.embed(request.embedding_model, [query])
        hits = await self.store.search(
            model,
            request.tenant_id,
            request.knowledge_base_id,
            vector,
            top_k,
            request.score_threshold,
        )
        return datagen_pb2.SearchKnowledgeBaseResponse(hits=[to_pb(hit) for hit in hits])

    async def delete(
        self, request: datagen_pb2.DeleteKnowledgeBaseRequest
    ) -> datagen_pb2.DeleteKnowledgeBaseResponse:
        model = request.embedding_model or await self.default_model()
        deleted = await self.store.delete(model, request.tenant_id, request.knowledge_base_id)
        return datagen_pb2.DeleteKnowledgeBaseResponse(n_chunks_deleted=deleted)

    async def default_model(self) -> str:
        """The inference service's default embedding model (it names it in every reply)."""
        model, _ = await self.embed("", ["model?"])
        return model


def to_pb(hit: ScoredChunk) -> datagen_pb2.SearchHit:
    chunk = hit.chunk
    return datagen_pb2.SearchHit(
        text=chunk.text,
        score=hit.score,
        file_id=chunk.file_id,
        filename=chunk.document,
        page=chunk.page,
        heading_path=chunk.heading_path,
        chunk_index=chunk.chunk_index,
    )
