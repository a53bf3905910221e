"""A service process's lifetime: connect, serve, wait for SIGTERM, shut down cleanly.

Shutdown order (reverse of start): workers stop taking jobs and finish or hand back the
current one, the gRPC server reports NOT_SERVING and lets in-flight RPCs finish within the
grace period, then the NATS connection is drained so nothing published is lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Sequence
from contextlib import AsyncExitStack
from types import TracebackType
from typing import Any, Protocol, TypeVar

from nats.aio.client import Client
from nats.js import JetStreamContext

from tuneloop_core.bus.connect import connect
from tuneloop_core.bus.worker import JobHandler, WorkerOptions, run_worker
from tuneloop_core.grpc.server import Registrar, RunningServer, start_server
from tuneloop_core.logs import configure_logging
from tuneloop_core.metrics import MetricsServer
from tuneloop_core.settings import ServiceSettings

log = logging.getLogger(__name__)
T = TypeVar("T")


class ServiceRuntime:
    """Owns the stop event, NATS connection, gRPC server and worker tasks of one process."""

    def __init__(self, settings: ServiceSettings, *, install_signals: bool = True):
        self.settings = settings
        self.stop = asyncio.Event()
        self._install_signals = install_signals
        self._stack = AsyncExitStack()
        self.nats: Client | None = None
        self.grpc: RunningServer | None = None
        self.http_port: int | None = None  # set by services that also serve HTTP
        self.metrics_port: int | None = None  # bound /metrics port, when served

    async def __aenter__(self) -> ServiceRuntime:
        if self.settings.metrics_port is not None:
            metrics = MetricsServer(self.settings.grpc_host, self.settings.metrics_port)
            self.metrics_port = metrics.port
            self._stack.callback(metrics.close)
        if self._install_signals:
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, self.stop.set)
                self._stack.callback(loop.remove_signal_handler, sig)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop.set()
        await self._stack.aclose()
        log.info("%s stopped", self.settings.service_name)

    @property
    def js(self) -> JetStreamContext:
        if self.nats is None:
            raise RuntimeError("connect_nats() first")
        return self.nats.jetstream()

    async def connect_nats(self) -> Client:
        self.nats = await connect(self.settings.common.nats_url, self.settings.service_name)
        self._stack.push_async_callback(self._drain_nats)
        return self.nats

    async def _drain_nats(self) -> None:
        if self.nats is not None and not self.nats.is_closed:
            with contextlib.suppress(Exception):  # already closing; nothing left to lose
                await self.nats.drain()

    async def start_grpc(
        self, registrars: Iterable[Registrar], service_names: Iterable[str]
    ) -> RunningServer:
        self.grpc = await start_server(self.settings.grpc_bind(), registrars, service_names)
        self._stack.push_async_callback(self.grpc.stop, self.settings.shutdown_grace_s)
        return self.grpc

    def start_task(self, work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        """Run `work` (a loop that ends once `stop` is set) for the process lifetime; on
        shutdown it gets the grace period, then is cancelled."""
        task = asyncio.create_task(work)
        task.add_done_callback(self._on_task_done)

        async def finish() -> None:
            done, _ = await asyncio.wait({task}, timeout=self.settings.shutdown_grace_s)
            if not done:
                task.cancel()
                await asyncio.wait({task})

        self._stack.push_async_callback(finish)
        return task

    def _on_task_done(self, task: asyncio.Task[None]) -> None:
        """A background loop that dies stops the whole process, so the supervisor (or the
        orchestrator) restarts it, rather than leaving it running half-broken."""
        if task.cancelled() or task.exception() is None:
            return
        log.error("background task failed; stopping", exc_info=task.exception())
        self.stop.set()

    def start_worker(
        self, kind: int, handler: JobHandler, options: WorkerOptions | None = None
    ) -> asyncio.Task[None]:
        """The shared worker loop for `kind`; a job still running after the grace period is
        cancelled and handed back to JetStream for another worker."""
        return self.start_task(run_worker(self.js, kind, handler, self.stop, options))

    def enter_callback(self, callback: Callable[[], object]) -> None:
        """Call `callback` at shutdown (after everything started later has stopped)."""
        self._stack.callback(callback)

    def enter_async_callback(self, callback: Callable[[], Awaitable[object]]) -> None:
        """Await `callback` at shutdown (after everything started later has stopped)."""
        self._stack.push_async_callback(callback)

    async def enter(self, context: contextlib.AbstractAsyncContextManager[T]) -> T:
        """Tie an async context (a client, a background task) to the process lifetime."""
        return await self._stack.enter_async_context(context)

    async def wait(self) -> None:
        """Block until SIGTERM/SIGINT (or `stop` is set by a test)."""
        await self.stop.wait()


# Called once a service is serving, with its runtime (tests read the bound port from it).
OnStarted = Callable[[ServiceRuntime], None]


SettingsT = TypeVar("SettingsT", bound=ServiceSettings)
SettingsT_contra = TypeVar("SettingsT_contra", bound=ServiceSettings, contravariant=True)


class Serve(Protocol[SettingsT_contra]):
    """What a service's `serve` is: run it with its settings until stopped."""

    def __call__(
        self,
        settings: SettingsT_contra,
        *,
        install_signals: bool = True,
        on_started: OnStarted | None = None,
    ) -> Coroutine[Any, Any, None]: ...


def worker_service(
    registrars: Sequence[Registrar],
    service_names: Sequence[str],
    start_workers: Callable[[ServiceRuntime, SettingsT], None],
) -> Serve[SettingsT]:
    """The `serve` of a process that works on jobs: connect NATS, serve gRPC (its services,
    if any, and health), start the workers on the connected runtime, run until stopped."""

    async def serve(
        settings: SettingsT, *, install_signals: bool = True, on_started: OnStarted | None = None
    ) -> None:
        async with ServiceRuntime(settings, install_signals=install_signals) as runtime:
            await runtime.connect_nats()
            await runtime.start_grpc(registrars, service_names)
            start_workers(runtime, settings)
            if on_started is not None:
                on_started(runtime)
            await runtime.wait()

    return serve


def run_main(settings: ServiceSettings, serve: Callable[[], Coroutine[Any, Any, None]]) -> None:
    """Entry point body of every service: logging, then the event loop until SIGTERM."""
    common = settings.common
    configure_logging(settings.service_name, common.log_level, common.log_json)
    asyncio.run(serve())
