"""The inference process: engines for the configured base models, InferenceService over
gRPC with health, and the checkpoint hot-loader."""

from __future__ import annotations

from pathlib import Path

import grpc.aio

from services.inference.catalog import Catalog
from services.inference.embeddings import Embedder
from services.inference.engines.base import BaseModelSpec
from services.inference.engines.factory import build_engine
from services.inference.hotload import run_hotloader
from services.inference.servicer import InferenceServicer
from services.inference.settings import InferenceSettings
from tuneloop.inference.v1 import inference_pb2, inference_pb2_grpc
from tuneloop_core import basemodels
from tuneloop_core.runtime import OnStarted, ServiceRuntime

SERVICE_NAME = inference_pb2.DESCRIPTOR.services_by_name["InferenceService"].full_name


def base_model_specs(settings: InferenceSettings) -> list[BaseModelSpec]:
    data_dir = settings.common.data_dir
    infos = (
        [basemodels.resolve(name, data_dir) for name in settings.base_models]
        if settings.base_models
        else basemodels.list_models(data_dir)
    )
    specs = [BaseModelSpec(info.name, Path(info.path)) for info in infos]
    return specs + [BaseModelSpec(n, Path(p)) for n, p in settings.gguf_models.items()]


async def serve(
    settings: InferenceSettings,
    *,
    install_signals: bool = True,
    on_started: OnStarted | None = None,
) -> None:
    catalog = Catalog()
    servicer = InferenceServicer(
        catalog, Embedder(settings.embedding_model), settings.common.data_dir
    )
    async with ServiceRuntime(settings, install_signals=install_signals) as runtime:
        for spec in base_model_specs(settings):
            engine = build_engine(settings, spec)
            await engine.start()
            runtime.enter_async_callback(engine.close)
            catalog.add_base(engine)
        await runtime.connect_nats()

        def register(server: grpc.aio.Server) -> None:
            inference_pb2_grpc.add_InferenceServiceServicer_to_server(servicer, server)

        await runtime.start_grpc([register], [SERVICE_NAME])
        if settings.hotload:
            hotloader = run_hotloader(
                runtime.js, servicer.load_adapter, settings.common.data_dir, runtime.stop
            )
            runtime.start_task(hotloader)
        if on_started is not None:
            on_started(runtime)
        await runtime.wait()
