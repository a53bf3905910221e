"""Run a service in-process on ephemeral ports, against the test's nats-server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Any

from tuneloop_core.runtime import ServiceRuntime

ServeFn = Callable[..., Coroutine[Any, Any, None]]


@asynccontextmanager
async def running(
    serve: ServeFn, settings: Any, start_timeout_s: float = 30
) -> AsyncIterator[ServiceRuntime]:
    """Start `serve(settings)` as a task; yield its runtime once serving; stop it after."""
    started: asyncio.Future[ServiceRuntime] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(
        serve(settings, install_signals=False, on_started=started.set_result)
    )
    done, _ = await asyncio.wait(
        {task, started}, timeout=start_timeout_s, return_when=asyncio.FIRST_COMPLETED
    )
    if started not in done:
        task.cancel()
        raise RuntimeError(
            f"service did not start: {task.exception() if task.done() else 'timeout'}"
        )
    runtime = started.result()
    try:
        yield runtime
    finally:
        runtime.stop.set()
        await asyncio.wait_for(task, 30)
