"""ServiceRuntime: background loops that die stop the process; shutdown never raises the
loops' own errors and never waits past the grace period."""

from __future__ import annotations

import asyncio
import time
from typing import ClassVar

from tuneloop_core.runtime import ServiceRuntime
from tuneloop_core.settings import ServiceSettings


class Settings(ServiceSettings):
    service_name: ClassVar[str] = "trainer"


async def test_a_failing_background_loop_stops_the_process() -> None:
    async def broken() -> None:
        await asyncio.sleep(0.05)
        raise RuntimeError("consumer died")

    async with ServiceRuntime(Settings(shutdown_grace_s=1), install_signals=False) as runtime:
        runtime.start_task(broken())
        await asyncio.wait_for(runtime.wait(), 5)  # returns because the loop died
    assert runtime.stop.is_set()


async def test_shutdown_cancels_a_loop_that_ignores_stop_after_the_grace() -> None:
    cancelled = asyncio.Event()

    async def stubborn() -> None:
        try:
            await asyncio.sleep(3600)
        finally:
            cancelled.set()

    started = time.monotonic()
    async with ServiceRuntime(Settings(shutdown_grace_s=0.2), install_signals=False) as runtime:
        runtime.start_task(stubborn())
    assert cancelled.is_set()
    assert time.monotonic() - started < 3
