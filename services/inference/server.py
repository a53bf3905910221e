"""The inference process: gRPC InferenceService and health. Engines arrive with the inference
issue; until then it serves no model."""

from __future__ import annotations

import grpc

from services.inference.servicer import InferenceServicer
from services.inference.settings import InferenceSettings
from tuneloop.inference.v1 import inference_pb2, inference_pb2_grpc
from tuneloop_core.runtime import OnStarted, serve_grpc_service

SERVICE_NAME = inference_pb2.DESCRIPTOR.services_by_name["InferenceService"].full_name


def _register(server: grpc.aio.Server) -> None:
    inference_pb2_grpc.add_InferenceServiceServicer_to_server(
        InferenceServicer(),  # type: ignore[abstract]  # other RPCs: UNIMPLEMENTED for now
        server,
    )


async def serve(
    settings: InferenceSettings,
    *,
    install_signals: bool = True,
    on_started: OnStarted | None = None,
) -> None:
    await serve_grpc_service(
        settings,
        [_register],
        [SERVICE_NAME],
        install_signals=install_signals,
        on_started=on_started,
    )
