"""The vector store of knowledge bases: Qdrant, embedded (local mode) or a server.

Layout: one collection per embedding model (a collection fixes the vector size), every
knowledge base of every tenant in it, told apart by the `tenant_id` and
`knowledge_base_id` payload fields — Qdrant's own multitenancy advice. Thousands of small
knowledge bases would each cost segments, a WAL and optimiser threads as collections;
as payload partitions they cost an index entry, and deleting one is a filtered delete.
Every read and delete filters on the tenant as well as the knowledge base, so isolation
holds in the store itself, not only in the gateway's registry check.

Local mode locks its directory to one client, so a process opens ONE store and shares it;
its calls are blocking, so they run in a thread, one at a time.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qdrant_client import QdrantClient, models

log = logging.getLogger(__name__)

# Namespace of point ids: uuid5(kb, file, chunk index), so a redelivered ingest job
# overwrites its own points instead of duplicating them.
POINT_NAMESPACE = uuid.UUID("6f1c1f53-5f43-4c4e-9a59-2c3c6b0b7e11")
# Upper bound on the distinct documents counted per knowledge base.
MAX_DOCUMENTS_COUNTED = 100_000
INDEXED_FIELDS = ("tenant_id", "knowledge_base_id", "file_id")


@dataclass(frozen=True)
class StoredChunk:
    """One chunk as stored: its text and where it came from."""

    text: str
    file_id: str
    document: str  # the document's file name
    page: int  # 1-based; 0 when the document has no pages
    heading_path: str  # e.g. "公文 > 函 > 主旨"; "" when none
    chunk_index: int  # 0-based position in its document


@dataclass(frozen=True)
class ScoredChunk:
    chunk: StoredChunk
    score: float  # cosine similarity


def collection_name(embedding_model: str) -> str:
    """A valid, stable collection name for a model name that may be a path."""
    slug = re.sub(r"[^A-Za-z0-9_-]+", "_", Path(embedding_model).name)[:40]
    digest = hashlib.sha256(embedding_model.encode()).hexdigest()[:8]
    return f"kb_{slug}_{digest}"


def _scope(tenant_id: str, kb_id: str, file_id: str | None = None) -> models.Filter:
    must: list[models.Condition] = [
        models.FieldCondition(key="tenant_id", match=models.MatchValue(value=tenant_id)),
        models.FieldCondition(key="knowledge_base_id", match=models.MatchValue(value=kb_id)),
    ]
    if file_id is not None:
        must.append(models.FieldCondition(key="file_id", match=models.MatchValue(value=file_id)))
    return models.Filter(must=must)


def _chunk(payload: dict[str, Any]) -> StoredChunk:
    return StoredChunk(
        text=str(payload.get("text", "")),
        file_id=str(payload.get("file_id", "")),
        document=str(payload.get("document", "")),
        page=int(payload.get("page") or 0),
        heading_path=str(payload.get("heading_path", "")),
        chunk_index=int(payload.get("chunk_index") or 0),
    )


class KnowledgeStore:
    """Chunks and vectors of every knowledge base; async methods over the blocking client."""

    def __init__(self, client: QdrantClient, *, server: bool):
        self.client = client
        self.server = server  # payload indexes exist only on a server (local mode scans)
        self._lock = asyncio.Lock()  # local mode is not safe for concurrent calls

    @classmethod
    def open(cls, url: str, data_dir: Path) -> KnowledgeStore:
        """A Qdrant server at `url`, or the embedded store in `data_dir/qdrant`."""
        if url:
            return cls(QdrantClient(url=url), server=True)
        path = data_dir / "qdrant"
        path.mkdir(parents=True, exist_ok=True)
        return cls(QdrantClient(path=str(path)), server=False)

    def close(self) -> None:
        self.client.close()

    async def _run(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        async with self._lock:
            return await asyncio.to_thread(fn, *args, **kwargs)

    def _ensure_collection(self, name: str, size: int) -> None:
        if self.client.collection_exists(name):
            return
        self.client.create_collection(
            name, vectors_config=models.VectorParams(size=size, distance=models.Distance.COSINE)
        )
        for field in INDEXED_FIELDS if self.server else ():
            # is_tenant co-locates a tenant's points on a server; harmless in local mode.
            schema = models.KeywordIndexParams(
                type=models.KeywordIndexType.KEYWORD, is_tenant=field != "file_id"
            )
            self.client.create_payload_index(name, field, field_schema=schema)

    def _replace_document(
        self,
        name: str,
        tenant_id: str,
        kb_id: str,
        file_id: str,
        chunks: list[StoredChunk],
        vectors: list[list[float]],
    ) -> None:
        self._ensure_collection(name, len(vectors[0]))
        # Re-adding a document (new chunking options) must not leave its old chunks behind.
        self.client.delete(name, points_selector=_scope(tenant_id, kb_id, file_id))
        points = [
            models.PointStruct(
                id=str(uuid.uuid5(POINT_NAMESPACE, f"{kb_id}/{file_id}/{chunk.chunk_index}")),
                vector=vector,
                payload={"tenant_id": tenant_id, "knowledge_base_id": kb_id, **vars(chunk)},
            )
            for chunk, vector in zip(chunks, vectors, strict=True)
        ]
        self.client.upsert(name, points=points)

    async def replace_document(
        self,
        embedding_model: str,
        tenant_id: str,
        kb_id: str,
        file_id: str,
        chunks: list[StoredChunk],
        vectors: list[list[float]],
    ) -> None:
        """Store a document's chunks (and drop any it had before) in a knowledge base."""
        if chunks:
            await self._run(
                self._replace_document,
                collection_name(embedding_model),
                tenant_id,
                kb_id,
                file_id,
                chunks,
                vectors,
            )

    def _search(
        self, name: str, scope: models.Filter, vector: list[float], top_k: int, threshold: float
    ) -> list[ScoredChunk]:
        if not self.client.collection_exists(name):
            return []
        response = self.client.query_points(
            name,
            query=vector,
            query_filter=scope,
            limit=top_k,
            with_payload=True,
            # 0 keeps every hit, negative cosines included.
            score_threshold=threshold if threshold > 0 else None,
        )
        return [ScoredChunk(_chunk(p.payload or {}), float(p.score)) for p in response.points]

    async def search(
        self,
        embedding_model: str,
        tenant_id: str,
        kb_id: str,
        vector: list[float],
        top_k: int,
        threshold: float,
    ) -> list[ScoredChunk]:
        """The `top_k` chunks nearest to `vector` scoring at least `threshold`, best first."""
        name = collection_name(embedding_model)
        scope = _scope(tenant_id, kb_id)
        hits: list[ScoredChunk] = await self._run(
            self._search, name, scope, vector, top_k, threshold
        )
        return hits

    def _totals(self, name: str, scope: models.Filter) -> tuple[int, int]:
        if not self.client.collection_exists(name):
            return 0, 0
        n_chunks = self.client.count(name, count_filter=scope, exact=True).count
        facets = self.client.facet(
            name, "file_id", facet_filter=scope, limit=MAX_DOCUMENTS_COUNTED, exact=True
        )
        return len(facets.hits), n_chunks

    async def totals(self, embedding_model: str, tenant_id: str, kb_id: str) -> tuple[int, int]:
        """(documents, chunks) stored in a knowledge base."""
        name = collection_name(embedding_model)
        counted: tuple[int, int] = await self._run(self._totals, name, _scope(tenant_id, kb_id))
        return counted

    def _delete(self, name: str, scope: models.Filter) -> int:
        if not self.client.collection_exists(name):
            return 0
        n_chunks = self.client.count(name, count_filter=scope, exact=True).count
        self.client.delete(name, points_selector=scope)
        return n_chunks

    async def delete(self, embedding_model: str, tenant_id: str, kb_id: str) -> int:
        """Drop a knowledge base's chunks; how many there were."""
        name = collection_name(embedding_model)
        deleted: int = await self._run(self._delete, name, _scope(tenant_id, kb_id))
        return deleted
