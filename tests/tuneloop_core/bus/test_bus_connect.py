"""connect(): streams exist afterwards, and the client outlives a nats-server restart with
the queued jobs kept in the file store."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from tuneloop.common.v1 import common_pb2
from tuneloop.trainer.v1 import trainer_pb2
from tuneloop_core.bus import subjects
from tuneloop_core.bus.connect import connect
from tuneloop_core.bus.publish import publish_job

if TYPE_CHECKING:
    from tests.conftest import NatsServer

FINE_TUNE = common_pb2.JOB_KIND_FINE_TUNE


async def test_connect_ensures_streams_and_reconnects_after_a_restart(
    nats_server: NatsServer,
) -> None:
    client = await connect(nats_server.url, "test-client")
    try:
        js = client.jetstream()
        names = {info.config.name for info in await js.streams_info()}
        assert names == {subjects.STREAM_JOBS, subjects.STREAM_EVENTS, subjects.STREAM_ADAPTERS}
        await publish_job(
            js, job_id="ftjob-1", tenant_id="t", kind=FINE_TUNE, spec=trainer_pb2.FineTuneJobSpec()
        )

        nats_server.stop()
        nats_server.start()

        async def reconnected() -> None:
            while True:
                if client.stats["reconnects"] >= 1 and client.is_connected:
                    return
                await asyncio.sleep(0.05)

        await asyncio.wait_for(reconnected(), timeout=10)
        ack = await publish_job(
            js, job_id="ftjob-2", tenant_id="t", kind=FINE_TUNE, spec=trainer_pb2.FineTuneJobSpec()
        )
        assert ack.seq == 2
        assert (await js.stream_info(subjects.STREAM_JOBS)).state.messages == 2
    finally:
        await client.close()


async def test_connect_fails_fast_when_nats_is_unreachable() -> None:
    from tests.conftest import free_port
    from tuneloop_core.errors import ServiceUnavailableError

    url = f"nats://127.0.0.1:{free_port()}"
    started = asyncio.get_running_loop().time()
    try:
        await connect(url, "test-client", first_connect_timeout_s=1.5)
    except ServiceUnavailableError as exc:
        assert url in exc.message
    else:
        raise AssertionError("connect() to a closed port must raise")
    assert asyncio.get_running_loop().time() - started < 10
