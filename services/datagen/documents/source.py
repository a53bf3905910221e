"""A tenant's uploaded document → its chunks: the file is looked up with the gateway, read
from the shared artifact store, parsed and chunked. Every failure is a TuneloopError that
names the document, so a job can record it and go on with the others."""

from __future__ import annotations

import asyncio
import logging

from services.datagen.documents.chunk import Chunk, ChunkingOptions, chunk_document
from services.datagen.documents.parse import parse_document
from tuneloop.gateway.v1 import gateway_pb2_grpc
from tuneloop_core import uploads
from tuneloop_core.artifacts import ArtifactStore
from tuneloop_core.errors import InvalidRequestError, TuneloopError

log = logging.getLogger(__name__)


async def read_chunks(
    gateway: gateway_pb2_grpc.GatewayServiceAsyncStub,
    artifacts: ArtifactStore,
    tenant_id: str,
    file_id: str,
    options: ChunkingOptions,
) -> tuple[str, list[Chunk]]:
    """(document name, its chunks)."""
    file = await uploads.resolve(gateway, artifacts, tenant_id, file_id)
    if file.bytes == 0:
        raise InvalidRequestError(f"{file.filename} is empty (0 bytes)", code="empty_document")

    def parse_and_chunk() -> list[Chunk]:
        return chunk_document(parse_document(file.path, file.filename), options)

    try:
        chunks = await asyncio.to_thread(parse_and_chunk)
    except TuneloopError:
        raise
    except Exception as exc:  # a parser library choking on a corrupt file
        log.warning("cannot read %s (%s)", file.filename, file_id, exc_info=True)
        raise InvalidRequestError(
            f"{file.filename} cannot be read: {type(exc).__name__}: {exc}",
            code="unreadable_document",
        ) from exc
    if not chunks:
        raise InvalidRequestError(f"{file.filename} has no text", code="empty_document")
    return file.filename, chunks
