"""DatagenService over gRPC. Knowledge-base RPCs come from `KnowledgeRpcs`."""

from __future__ import annotations

import asyncio
from pathlib import Path

from services.datagen.knowledge.search import Knowledge
from services.datagen.knowledge.wiring import Context, KnowledgeRpcs
from services.datagen.validation import validate_file
from tuneloop.datagen.v1 import datagen_pb2, datagen_pb2_grpc


class DatagenServicer(KnowledgeRpcs, datagen_pb2_grpc.DatagenServiceServicer):
    def __init__(self, knowledge: Knowledge, data_dir: Path):
        self.knowledge = knowledge
        self.data_dir = data_dir

    async def ValidateDataset(
        self, request: datagen_pb2.ValidateDatasetRequest, context: Context
    ) -> datagen_pb2.ValidateDatasetResponse:
        return await asyncio.to_thread(validate_file, self.data_dir, request)
