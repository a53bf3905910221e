"""The `kb_ingest` job handler: documents → parse → chunk → embed → Qdrant.

Each document succeeds or fails on its own: a missing, empty, unsupported or unparseable
file is reported (an event and a line in the result) and the job goes on with the
others, so one bad upload does not waste the rest. What concerns every document — the
inference service, the vector store — fails the job instead.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import cast

from nats.js import JetStreamContext

from services.datagen.documents.chunk import Chunk, ChunkingOptions
from services.datagen.knowledge.search import Knowledge
from services.datagen.knowledge.store import StoredChunk
from tuneloop.common.v1 import common_pb2
from tuneloop.datagen.v1 import datagen_pb2
from tuneloop.events.v1 import events_pb2
from tuneloop.gateway.v1 import gateway_pb2_grpc
from tuneloop_core import layout
from tuneloop_core.artifacts import ArtifactStore
from tuneloop_core.bus.jobrun import JobRun, JobWorker
from tuneloop_core.errors import TuneloopError
from tuneloop_core.jobspecs import kb_ingest
from tuneloop_core.jobspecs.datagen import ChunkUnit

log = logging.getLogger(__name__)
KIND = common_pb2.JOB_KIND_KB_INGEST


@dataclass(frozen=True)
class IngestSpec:
    """What the gateway queued: which documents go into which knowledge base, and how."""

    knowledge_base_id: str
    embedding_model: str  # as recorded on the knowledge base; "" = inference default
    file_ids: list[str]
    chunking: ChunkingOptions


def from_pb(spec: datagen_pb2.KbIngestJobSpec) -> IngestSpec:
    """The spec, checked with the gateway's bounds (a bad one is a stale or forged job)."""
    kb_ingest.check(spec)
    chunking = spec.chunking
    return IngestSpec(
        knowledge_base_id=spec.knowledge_base_id,
        embedding_model=spec.embedding_model,
        file_ids=list(spec.file_ids),
        chunking=ChunkingOptions(
            size=chunking.size,
            overlap=chunking.overlap,
            unit=cast(ChunkUnit, chunking.unit),  # checked above
        ),
    )


def heading_text(heading_path: object) -> str:
    """A chunk's heading path as one line, e.g. "公文 > 函 > 主旨"."""
    if isinstance(heading_path, list | tuple):
        return " > ".join(str(part) for part in heading_path if part)
    return str(heading_path or "")


def stored(chunk: Chunk, file_id: str, document: str) -> StoredChunk:
    return StoredChunk(
        text=chunk.text,
        file_id=file_id,
        document=document,
        page=int(chunk.page or 0),
        heading_path=heading_text(chunk.heading_path),
        chunk_index=int(chunk.index),
    )


def embedding_text(chunk: StoredChunk) -> str:
    """The heading path is embedded with the text: a chunk under "請假 > 特別休假" is
    about leave even when its sentences never say so."""
    return f"{chunk.heading_path}\n{chunk.text}" if chunk.heading_path else chunk.text


class IngestWorker(JobWorker):
    """Takes kb_ingest jobs from the JOBS work queue."""

    kind = KIND
    title = "kb_ingest"

    def __init__(
        self,
        knowledge: Knowledge,
        js: JetStreamContext,
        gateway: gateway_pb2_grpc.GatewayServiceAsyncStub,
        data_dir: Path,
        control_poll_s: float = 2.0,
    ):
        super().__init__(js, gateway, control_poll_s)
        self.knowledge = knowledge
        # The shared artifact store, where input files are (tuneloop_core.uploads).
        self.artifacts = ArtifactStore(layout.store_root(data_dir))

    async def work(self, run: JobRun, status: int, request: events_pb2.JobRequested) -> None:
        await self.ingest(run, request.tenant_id, from_pb(request.kb_ingest))

    async def ingest(self, run: JobRun, tenant_id: str, spec: IngestSpec) -> None:
        total = len(spec.file_ids)
        await run.running(f"Adding {total} document(s) to {spec.knowledge_base_id}.")
        model = spec.embedding_model
        documents: list[datagen_pb2.DocumentOutcome] = []
        for done, file_id in enumerate(spec.file_ids):
            await run.check_cancelled()
            try:
                name, chunks = await self.read(tenant_id, file_id, spec.chunking)
            except TuneloopError as exc:
                if exc.retryable:  # the gateway is unreachable: not this document's fault
                    raise
                documents.append(
                    datagen_pb2.DocumentOutcome(file_id=file_id, status="failed", error=exc.message)
                )
                await run.note(
                    f"{file_id}: {exc.message}", level="warning", file_id=file_id, code=exc.code
                )
                await run.progress("documents", done + 1, total)
                continue
            model, vectors = await self.knowledge.embed(model, [embedding_text(c) for c in chunks])
            await self.knowledge.store.replace_document(
                model, tenant_id, spec.knowledge_base_id, file_id, chunks, vectors
            )
            documents.append(
                datagen_pb2.DocumentOutcome(
                    file_id=file_id, document=name, status="ingested", n_chunks=len(chunks)
                )
            )
            await run.progress("documents", done + 1, total, f"{name}: {len(chunks)} chunks")
        n_documents, n_chunks = await self.knowledge.store.totals(
            model or await self.knowledge.default_model(), tenant_id, spec.knowledge_base_id
        )
        ingested = sum(d.status == "ingested" for d in documents)
        await run.succeed(
            f"Added {ingested} of {total} document(s); {total - ingested} failed.",
            result=datagen_pb2.KbIngestResult(
                knowledge_base_id=spec.knowledge_base_id,
                documents=documents,
                n_ingested=ingested,
                n_failed=total - ingested,
                n_chunks_added=sum(d.n_chunks for d in documents),
                totals=datagen_pb2.KnowledgeBaseTotals(n_documents=n_documents, n_chunks=n_chunks),
            ),
        )

    async def read(
        self, tenant_id: str, file_id: str, chunking: ChunkingOptions
    ) -> tuple[str, list[StoredChunk]]:
        """(document name, its chunks); a TuneloopError says what is wrong with the file."""
        from services.datagen.documents.source import read_chunks

        name, chunks = await read_chunks(self.gateway, self.artifacts, tenant_id, file_id, chunking)
        return name, [stored(c, file_id, name) for c in chunks]
