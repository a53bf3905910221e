"""The datagen process: gRPC DatagenService and health. Its RPCs and the datagen worker arrive
with the datagen issue; until then they answer UNIMPLEMENTED."""

from __future__ import annotations

import grpc.aio

from services.datagen.settings import DatagenSettings
from tuneloop.datagen.v1 import datagen_pb2, datagen_pb2_grpc
from tuneloop_core.runtime import OnStarted, serve_grpc_service

SERVICE_NAME = datagen_pb2.DESCRIPTOR.services_by_name["DatagenService"].full_name


def _register(server: grpc.aio.Server) -> None:
    # The generated base answers UNIMPLEMENTED for every RPC: true until they are built.
    servicer = datagen_pb2_grpc.DatagenServiceServicer()  # type: ignore[abstract]
    datagen_pb2_grpc.add_DatagenServiceServicer_to_server(servicer, server)


async def serve(
    settings: DatagenSettings, *, install_signals: bool = True, on_started: OnStarted | None = None
) -> None:
    await serve_grpc_service(
        settings,
        [_register],
        [SERVICE_NAME],
        install_signals=install_signals,
        on_started=on_started,
    )
