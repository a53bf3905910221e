"""Build and run a service's gRPC server: error interceptor, standard health service."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import grpc
import grpc.aio
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from tuneloop_core.grpc.interceptor import ErrorInterceptor

log = logging.getLogger(__name__)

# Adds one servicer to a server, e.g. `lambda s: add_FooServicer_to_server(FooServicer(), s)`.
Registrar = Callable[[grpc.aio.Server], None]

# Large enough for embedding batches and long prompts (bytes).
MAX_MESSAGE_BYTES = 64 * 1024 * 1024


@dataclass
class RunningServer:
    """A started server, the port it bound and its health servicer."""

    server: grpc.aio.Server
    port: int
    health: health.aio.HealthServicer

    async def set_serving(self, service_names: Iterable[str], serving: bool = True) -> None:
        status = (
            health_pb2.HealthCheckResponse.SERVING
            if serving
            else health_pb2.HealthCheckResponse.NOT_SERVING
        )
        for name in ("", *service_names):
            await self.health.set(name, status)

    async def stop(self, grace_s: float) -> None:
        """Report NOT_SERVING, then let in-flight RPCs finish within `grace_s` seconds."""
        await self.health.enter_graceful_shutdown()
        await self.server.stop(grace_s)


async def start_server(
    bind: str, registrars: Iterable[Registrar], service_names: Iterable[str]
) -> RunningServer:
    """Start a grpc.aio server on `bind` ("host:port", port 0 = ephemeral)."""
    server = grpc.aio.server(
        interceptors=[ErrorInterceptor()],
        options=[
            ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
        ],
    )
    for register in registrars:
        register(server)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    port = server.add_insecure_port(bind)
    if port == 0:
        raise OSError(f"cannot bind gRPC server to {bind}")
    await server.start()
    running = RunningServer(server=server, port=port, health=health_servicer)
    await running.set_serving(service_names)
    log.info("gRPC listening on port %d", port)
    return running
