"""The evaluator process: gRPC EvaluatorService and health. Its RPCs and the evaluation worker
arrive with the evaluator issue; until then they answer UNIMPLEMENTED."""

from __future__ import annotations

import grpc.aio

from services.evaluator.settings import EvaluatorSettings
from tuneloop.evaluator.v1 import evaluator_pb2, evaluator_pb2_grpc
from tuneloop_core.runtime import OnStarted, serve_grpc_service

SERVICE_NAME = evaluator_pb2.DESCRIPTOR.services_by_name["EvaluatorService"].full_name


def _register(server: grpc.aio.Server) -> None:
    # The generated base answers UNIMPLEMENTED for every RPC: true until they are built.
    servicer = evaluator_pb2_grpc.EvaluatorServiceServicer()  # type: ignore[abstract]
    evaluator_pb2_grpc.add_EvaluatorServiceServicer_to_server(servicer, server)


async def serve(
    settings: EvaluatorSettings,
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
