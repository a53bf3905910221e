"""The bounds and defaults of a knowledge-base ingest job
(`tuneloop.datagen.v1.KbIngestJobSpec`), defined once: the gateway's request model is built
on them, and the datagen service checks the spec it takes from the queue with them."""

from __future__ import annotations

from typing import get_args

from tuneloop.datagen.v1 import datagen_pb2
from tuneloop_core.errors import InvalidRequestError
from tuneloop_core.jobspecs.datagen import ChunkUnit

CHUNK_UNITS: tuple[str, ...] = get_args(ChunkUnit)
MAX_FILES = 1000  # documents per request
# Chunks are what a RAG answer quotes: a few paragraphs, in characters or tokens.
CHUNK_SIZE, MIN_CHUNK_SIZE, MAX_CHUNK_SIZE = 600, 50, 8000
CHUNK_OVERLAP, MAX_CHUNK_OVERLAP = 80, 4000  # shared with the previous chunk; below the size


def check(spec: datagen_pb2.KbIngestJobSpec) -> None:
    """What the worker checks of a spec it took from the queue: a publish that bypassed
    the gateway fails the job with the error the API would have given."""
    if not spec.knowledge_base_id:
        raise InvalidRequestError("the job names no knowledge base", param="knowledge_base_id")
    if not 1 <= len(spec.file_ids) <= MAX_FILES:
        raise InvalidRequestError(f"an ingest takes 1–{MAX_FILES} files", param="file_ids")
    chunking = spec.chunking
    if not MIN_CHUNK_SIZE <= chunking.size <= MAX_CHUNK_SIZE:
        raise InvalidRequestError(
            f"chunking.size must be {MIN_CHUNK_SIZE}–{MAX_CHUNK_SIZE}", param="chunking.size"
        )
    if not 0 <= chunking.overlap <= MAX_CHUNK_OVERLAP or chunking.overlap >= chunking.size:
        raise InvalidRequestError(
            "chunking.overlap must be smaller than chunking.size", param="chunking.overlap"
        )
    if chunking.unit not in CHUNK_UNITS:
        raise InvalidRequestError(
            f"chunking.unit must be one of {CHUNK_UNITS}", param="chunking.unit"
        )
