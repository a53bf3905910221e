"""How the datagen process hosts knowledge bases: one Qdrant store, the kb_ingest worker,
and the two RPCs (a mixin for the DatagenService servicer)."""

from __future__ import annotations

from typing import Any

import grpc

from services.datagen.knowledge.ingest import KIND, IngestWorker
from services.datagen.knowledge.search import Knowledge
from services.datagen.knowledge.store import KnowledgeStore
from tuneloop.datagen.v1 import datagen_pb2
from tuneloop.gateway.v1 import gateway_pb2_grpc
from tuneloop.inference.v1 import inference_pb2_grpc
from tuneloop_core.bus.worker import WorkerOptions
from tuneloop_core.grpc.client import open_channel
from tuneloop_core.runtime import ServiceRuntime
from tuneloop_core.settings import CommonSettings

Context = grpc.aio.ServicerContext[Any, Any]


async def start_knowledge(
    runtime: ServiceRuntime, common: CommonSettings, options: WorkerOptions | None = None
) -> Knowledge:
    """Open the store (one per process: local mode locks its directory) and start the
    kb_ingest worker; all of it closes with the runtime. Call after `connect_nats`."""
    store = KnowledgeStore.open(common.qdrant_url, common.data_dir)
    runtime.enter_callback(store.close)
    inference = open_channel(common.inference_addr)
    runtime.enter_async_callback(inference.close)
    gateway = open_channel(common.gateway_addr, patient=True)
    runtime.enter_async_callback(gateway.close)
    knowledge = Knowledge(store, inference_pb2_grpc.InferenceServiceStub(inference))
    worker = IngestWorker(
        knowledge, runtime.js, gateway_pb2_grpc.GatewayServiceStub(gateway), common.data_dir
    )
    runtime.start_worker(KIND, worker.handle, options)
    return knowledge


class KnowledgeRpcs:
    """DatagenService's knowledge-base RPCs; the servicer inherits them and sets
    `self.knowledge`. Errors are TuneloopErrors, mapped to gRPC by the interceptor."""

    knowledge: Knowledge

    async def SearchKnowledgeBase(
        self, request: datagen_pb2.SearchKnowledgeBaseRequest, context: Context
    ) -> datagen_pb2.SearchKnowledgeBaseResponse:
        return await self.knowledge.search(request)

    async def DeleteKnowledgeBase(
        self, request: datagen_pb2.DeleteKnowledgeBaseRequest, context: Context
    ) -> datagen_pb2.DeleteKnowledgeBaseResponse:
        return await self.knowledge.delete(request)
