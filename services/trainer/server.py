"""The trainer process: gRPC TrainerService and health. Its RPCs and the fine-tuning worker
arrive with the trainer issue; until then they answer UNIMPLEMENTED."""

from __future__ import annotations

import grpc.aio

from services.trainer.settings import TrainerSettings
from tuneloop.trainer.v1 import trainer_pb2, trainer_pb2_grpc
from tuneloop_core.runtime import OnStarted, serve_grpc_service

SERVICE_NAME = trainer_pb2.DESCRIPTOR.services_by_name["TrainerService"].full_name


def _register(server: grpc.aio.Server) -> None:
    # The generated base answers UNIMPLEMENTED for every RPC: true until they are built.
    servicer = trainer_pb2_grpc.TrainerServiceServicer()  # type: ignore[abstract]
    trainer_pb2_grpc.add_TrainerServiceServicer_to_server(servicer, server)


async def serve(
    settings: TrainerSettings, *, install_signals: bool = True, on_started: OnStarted | None = None
) -> None:
    await serve_grpc_service(
        settings,
        [_register],
        [SERVICE_NAME],
        install_signals=install_signals,
        on_started=on_started,
    )
