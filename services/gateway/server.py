"""The gateway process: HTTP API (uvicorn), GatewayService over gRPC, the job-state
consumer, all on one event loop and stopped together."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator

import uvicorn

from services.gateway.app import create_app
from services.gateway.batches.worker import start_batch_worker
from services.gateway.clients import ServiceClients
from services.gateway.grpc_api import GatewayServicer
from services.gateway.job_state import run_job_state_consumer
from services.gateway.registry.aio import AsyncRegistry
from services.gateway.settings import GatewaySettings
from services.gateway.state import GatewayState
from tuneloop.gateway.v1 import gateway_pb2, gateway_pb2_grpc
from tuneloop_core import layout
from tuneloop_core.artifacts import ArtifactStore
from tuneloop_core.runtime import OnStarted, ServiceRuntime

SERVICE_NAME = gateway_pb2.DESCRIPTOR.services_by_name["GatewayService"].full_name


class _HttpServer(uvicorn.Server):
    """uvicorn without its own signal handling: the ServiceRuntime owns SIGTERM/SIGINT."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def serve(
    settings: GatewaySettings, *, install_signals: bool = True, on_started: OnStarted | None = None
) -> None:
    common = settings.common
    registry = AsyncRegistry.connect(common.database_url)
    async with ServiceRuntime(settings, install_signals=install_signals) as runtime:
        runtime.enter_callback(registry.close)
        clients = await runtime.enter(ServiceClients(common.service_addrs()))
        nats = await runtime.connect_nats()
        state = GatewayState(
            settings=settings,
            registry=registry,
            artifacts=ArtifactStore(layout.store_root(common.data_dir)),
            clients=clients,
            nats=nats,
        )
        servicer = GatewayServicer(registry)
        await runtime.start_grpc(
            [lambda s: gateway_pb2_grpc.add_GatewayServiceServicer_to_server(servicer, s)],
            [SERVICE_NAME],
        )
        consumer = run_job_state_consumer(runtime.js, registry, state.artifacts, runtime.stop)
        runtime.start_task(consumer)
        start_batch_worker(runtime, state)  # batches are answered by this process's services
        http = _HttpServer(
            uvicorn.Config(
                create_app(state), host=settings.host, port=settings.port, log_config=None
            )
        )
        http_task = asyncio.create_task(http.serve())
        http_task.add_done_callback(lambda _: runtime.stop.set())  # HTTP gone: stop all
        # uvicorn offers no "started" event to wait on.
        while not http.started and not http_task.done():  # noqa: ASYNC110
            await asyncio.sleep(0.02)
        if http_task.done():  # could not bind: surface the reason
            await http_task
            raise SystemExit(f"gateway HTTP server failed to start on port {settings.port}")
        runtime.http_port = http.servers[0].sockets[0].getsockname()[1]
        if on_started is not None:
            on_started(runtime)
        await runtime.wait()
        http.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await http_task
