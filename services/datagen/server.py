"""The datagen process: gRPC DatagenService and health, and its job workers (dataset
generation, knowledge-base ingestion)."""

from __future__ import annotations

import grpc.aio

from services.datagen.generation.worker import KIND as DATAGEN_KIND
from services.datagen.generation.worker import DatagenWorker
from services.datagen.knowledge.wiring import start_knowledge
from services.datagen.servicer import DatagenServicer
from services.datagen.settings import DatagenSettings
from tuneloop.datagen.v1 import datagen_pb2, datagen_pb2_grpc
from tuneloop.gateway.v1 import gateway_pb2_grpc
from tuneloop_core.grpc.client import open_channel
from tuneloop_core.runtime import OnStarted, ServiceRuntime

SERVICE_NAME = datagen_pb2.DESCRIPTOR.services_by_name["DatagenService"].full_name


async def serve(
    settings: DatagenSettings, *, install_signals: bool = True, on_started: OnStarted | None = None
) -> None:
    async with ServiceRuntime(settings, install_signals=install_signals) as runtime:
        await runtime.connect_nats()
        knowledge = await start_knowledge(runtime, settings.common)
        servicer = DatagenServicer(knowledge, settings.common.data_dir)
        gateway = open_channel(settings.common.gateway_addr, patient=True)
        runtime.enter_async_callback(gateway.close)
        worker = DatagenWorker(
            runtime.js,
            gateway_pb2_grpc.GatewayServiceStub(gateway),
            settings.common.data_dir,
            settings.common.gateway_url,
            settings.control_poll_s,
        )
        runtime.start_worker(DATAGEN_KIND, worker.handle, None)

        def register(server: grpc.aio.Server) -> None:
            datagen_pb2_grpc.add_DatagenServiceServicer_to_server(servicer, server)

        await runtime.start_grpc([register], [SERVICE_NAME])
        if on_started is not None:
            on_started(runtime)
        await runtime.wait()
