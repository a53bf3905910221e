"""The inference process: engines for the installed base models (kept in step with the
models directory), InferenceService over gRPC with health, and the checkpoint hot-loader."""

from __future__ import annotations

import grpc.aio

from services.inference.bases import BaseModels
from services.inference.catalog import Catalog
from services.inference.embeddings import Embedder
from services.inference.hotload import run_hotloader
from services.inference.imports import run_import_replay
from services.inference.servicer import InferenceServicer
from services.inference.settings import InferenceSettings
from tuneloop.inference.v1 import inference_pb2, inference_pb2_grpc
from tuneloop_core.runtime import OnStarted, ServiceRuntime

SERVICE_NAME = inference_pb2.DESCRIPTOR.services_by_name["InferenceService"].full_name


async def serve(
    settings: InferenceSettings,
    *,
    install_signals: bool = True,
    on_started: OnStarted | None = None,
) -> None:
    catalog = Catalog()
    servicer = InferenceServicer(
        catalog,
        Embedder(settings.embedding_model),
        settings.common.data_dir,
        max_lora_rank=settings.max_lora_rank,
    )
    async with ServiceRuntime(settings, install_signals=install_signals) as runtime:
        bases = BaseModels(settings, catalog)
        runtime.enter_async_callback(bases.close)
        await bases.start()
        await runtime.connect_nats()

        def register(server: grpc.aio.Server) -> None:
            inference_pb2_grpc.add_InferenceServiceServicer_to_server(servicer, server)

        await runtime.start_grpc([register], [SERVICE_NAME])
        if settings.hotload:
            hotloader = run_hotloader(
                runtime.js, servicer.load_adapter, settings.common.data_dir, runtime.stop
            )
            runtime.start_task(hotloader)
        imports = run_import_replay(runtime.js, servicer, settings.common.data_dir, runtime.stop)
        runtime.start_task(imports)
        runtime.start_task(bases.run(runtime.stop, runtime.nats))
        if on_started is not None:
            on_started(runtime)
        await runtime.wait()
