"""run_worker against a real nats-server: ack, nak with delay, term, max_deliver, the
in_progress heartbeat, shutdown hand-back and work sharing between workers."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace

import pytest
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import ConsumerInfo

from tuneloop.common.v1 import common_pb2
from tuneloop.trainer.v1 import trainer_pb2
from tuneloop_core.bus import subjects
from tuneloop_core.bus.publish import publish_job
from tuneloop_core.bus.worker import JobContext, JobHandler, WorkerOptions, run_worker
from tuneloop_core.errors import InvalidRequestError, ServiceUnavailableError

FINE_TUNE = common_pb2.JOB_KIND_FINE_TUNE
# Short timings so a redelivery (or its absence) shows within about a second.
FAST = WorkerOptions(
    ack_wait_s=0.6, heartbeat_s=0.2, max_deliver=3, nak_delay_s=0.2, fetch_timeout_s=0.2
)
# Longer than any redelivery FAST could cause: ack wait, nak delay, a fetch and slack.
QUIET_S = FAST.ack_wait_s + FAST.nak_delay_s + 0.3
# Silent for longer than this, an unacknowledged job goes to another worker.
SHORT_ACK_WAIT = WorkerOptions(
    ack_wait_s=1.0, heartbeat_s=0.3, max_deliver=3, nak_delay_s=0.2, fetch_timeout_s=0.2
)


@dataclass
class Recorder:
    """A handler's log of calls: (worker, job id, attempt, delivery) per call."""

    calls: list[tuple[str, str, int, int]] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def record(self, worker: str, ctx: JobContext) -> None:
        self.calls.append((worker, ctx.request.job_id, ctx.request.attempt, ctx.delivery))
        self.changed.set()

    async def wait_for_calls(self, count: int, timeout_s: float = 5.0) -> None:
        async def reached() -> None:
            while len(self.calls) < count:
                self.changed.clear()
                await self.changed.wait()

        await asyncio.wait_for(reached(), timeout_s)

    @property
    def deliveries(self) -> list[int]:
        return [delivery for *_, delivery in self.calls]


@asynccontextmanager
async def worker(
    js: JetStreamContext, handler: JobHandler, options: WorkerOptions = FAST
) -> AsyncIterator[asyncio.Task[None]]:
    """Run one worker until the block ends; a crash of the loop fails the test."""
    stop = asyncio.Event()
    task = asyncio.create_task(run_worker(js, FINE_TUNE, handler, stop, options))
    try:
        yield task
    finally:
        stop.set()
        if not task.cancelled():
            await asyncio.wait_for(task, timeout=10)


async def consumer(js: JetStreamContext) -> ConsumerInfo:
    info: ConsumerInfo = await js.consumer_info(
        subjects.STREAM_JOBS, subjects.worker_durable(FINE_TUNE)
    )
    return info


async def publish(js: JetStreamContext, job_id: str, attempt: int = 1) -> None:
    await publish_job(
        js,
        job_id=job_id,
        tenant_id="tenant-a",
        kind=FINE_TUNE,
        spec=trainer_pb2.FineTuneJobSpec(),
        attempt=attempt,
    )


async def test_a_published_job_reaches_the_handler_decoded_and_is_acked(nc: Client) -> None:
    js = nc.jetstream()
    seen: list[JobContext] = []
    recorder = Recorder()

    async def handler(ctx: JobContext) -> None:
        seen.append(ctx)
        recorder.record("w", ctx)

    spec = trainer_pb2.FineTuneJobSpec(base_model="base", training_file="file-a")
    await publish_job(js, job_id="ftjob-1", tenant_id="tenant-a", kind=FINE_TUNE, spec=spec)
    async with worker(js, handler):
        await recorder.wait_for_calls(1)
        await asyncio.sleep(QUIET_S)

    assert len(seen) == 1
    request = seen[0].request
    assert (request.job_id, request.tenant_id, request.kind) == ("ftjob-1", "tenant-a", FINE_TUNE)
    assert request.fine_tune == spec
    assert seen[0].delivery == 1
    info = await consumer(js)
    assert info.num_ack_pending == 0
    assert info.num_pending == 0
    # The work queue drops a job once it is acked.
    assert (await js.stream_info(subjects.STREAM_JOBS)).state.messages == 0


async def test_a_duplicate_publish_runs_once_and_a_new_attempt_runs_again(nc: Client) -> None:
    js = nc.jetstream()
    recorder = Recorder()

    async def handler(ctx: JobContext) -> None:
        recorder.record("w", ctx)

    first = await publish_job(
        js, job_id="ftjob-1", tenant_id="t", kind=FINE_TUNE, spec=trainer_pb2.FineTuneJobSpec()
    )
    again = await publish_job(
        js, job_id="ftjob-1", tenant_id="t", kind=FINE_TUNE, spec=trainer_pb2.FineTuneJobSpec()
    )
    assert not first.duplicate
    assert again.duplicate is True

    async with worker(js, handler):
        await recorder.wait_for_calls(1)
        await publish(js, "ftjob-1", attempt=2)
        await recorder.wait_for_calls(2)
        await asyncio.sleep(QUIET_S)

    assert [(job, attempt, delivery) for _, job, attempt, delivery in recorder.calls] == [
        ("ftjob-1", 1, 1),
        ("ftjob-1", 2, 1),
    ]


async def test_a_retryable_error_is_nakked_and_redelivered_after_the_delay(
    nc: Client,
) -> None:
    js = nc.jetstream()
    recorder = Recorder()
    called_at: list[float] = []

    async def handler(ctx: JobContext) -> None:
        recorder.record("w", ctx)
        called_at.append(time.monotonic())
        if ctx.delivery == 1:
            raise ServiceUnavailableError("inference is down")

    await publish(js, "ftjob-1")
    async with worker(js, handler):
        await recorder.wait_for_calls(2)
        await asyncio.sleep(QUIET_S)

    assert recorder.deliveries == [1, 2]
    assert called_at[1] - called_at[0] >= FAST.nak_delay_s * 0.9
    info = await consumer(js)
    assert info.num_ack_pending == 0
    assert info.num_redelivered == 0  # nothing is waiting to be redelivered
    assert (await js.stream_info(subjects.STREAM_JOBS)).state.messages == 0


async def test_a_permanent_error_terminates_the_job_without_redelivery(nc: Client) -> None:
    js = nc.jetstream()
    recorder = Recorder()

    async def handler(ctx: JobContext) -> None:
        recorder.record("w", ctx)
        raise InvalidRequestError("training file is not JSONL", param="training_file")

    await publish(js, "ftjob-1")
    async with worker(js, handler):
        await recorder.wait_for_calls(1)
        await asyncio.sleep(QUIET_S)

    assert recorder.deliveries == [1]
    assert (await consumer(js)).num_ack_pending == 0


async def test_an_undecodable_payload_is_terminated_and_the_worker_goes_on(
    nc: Client,
) -> None:
    js = nc.jetstream()
    recorder = Recorder()

    async def handler(ctx: JobContext) -> None:
        recorder.record("w", ctx)

    await js.publish(subjects.job_requested(FINE_TUNE), b"\xff\xff not a protobuf")
    await publish(js, "ftjob-after")
    async with worker(js, handler):
        await recorder.wait_for_calls(1)
        await asyncio.sleep(QUIET_S)

    assert [job for _, job, _, _ in recorder.calls] == ["ftjob-after"]
    info = await consumer(js)
    assert info.delivered is not None
    assert info.delivered.stream_seq == 2  # both messages were handed out
    assert info.num_ack_pending == 0
    assert info.num_redelivered == 0


@pytest.mark.parametrize(
    "error",
    [RuntimeError("bug in the handler"), ServiceUnavailableError("still down")],
    ids=["unexpected", "retryable"],
)
async def test_a_failing_job_is_retried_until_max_deliver_then_terminated(
    nc: Client, error: Exception
) -> None:
    js = nc.jetstream()
    recorder = Recorder()

    async def handler(ctx: JobContext) -> None:
        recorder.record("w", ctx)
        raise error

    await publish(js, "ftjob-1")
    async with worker(js, handler):
        await recorder.wait_for_calls(FAST.max_deliver)
        await asyncio.sleep(QUIET_S)

    assert recorder.deliveries == list(range(1, FAST.max_deliver + 1))
    assert (await consumer(js)).num_ack_pending == 0


async def test_the_heartbeat_keeps_a_long_job_from_going_to_another_worker(
    nc: Client,
) -> None:
    js = nc.jetstream()
    recorder = Recorder()
    finished = asyncio.Event()

    def slow(name: str) -> JobHandler:
        async def handler(ctx: JobContext) -> None:
            recorder.record(name, ctx)
            await asyncio.sleep(2.5)  # 2.5 ack waits
            finished.set()

        return handler

    async with worker(js, slow("a"), SHORT_ACK_WAIT), worker(js, slow("b"), SHORT_ACK_WAIT):
        await publish(js, "ftjob-long")
        await asyncio.wait_for(finished.wait(), timeout=10)
        await asyncio.sleep(0.5)

    assert len(recorder.calls) == 1
    assert recorder.deliveries == [1]


async def test_a_handler_may_heartbeat_itself(nc: Client) -> None:
    js = nc.jetstream()
    recorder = Recorder()
    # The loop's own heartbeat is too slow to matter here: only ctx.heartbeat() keeps it.
    options = replace(SHORT_ACK_WAIT, heartbeat_s=60.0)

    def beating(name: str) -> JobHandler:
        async def handler(ctx: JobContext) -> None:
            recorder.record(name, ctx)
            for _ in range(4):  # 2 s in all: two ack waits
                await asyncio.sleep(0.5)
                await ctx.heartbeat()

        return handler

    async with worker(js, beating("a"), options), worker(js, beating("b"), options):
        await publish(js, "ftjob-long")
        await recorder.wait_for_calls(1)
        await asyncio.sleep(2.2)

    assert recorder.deliveries == [1]


async def test_without_a_heartbeat_a_silent_job_is_redelivered_after_the_ack_wait(
    nc: Client,
) -> None:
    """The control for the two tests above: the ack wait really is short enough."""
    js = nc.jetstream()
    recorder = Recorder()
    options = replace(SHORT_ACK_WAIT, heartbeat_s=60.0)

    def silent(name: str) -> JobHandler:
        async def handler(ctx: JobContext) -> None:
            recorder.record(name, ctx)
            if ctx.delivery == 1:
                await asyncio.sleep(2.0)

        return handler

    async with worker(js, silent("a"), options), worker(js, silent("b"), options):
        await publish(js, "ftjob-long")
        await recorder.wait_for_calls(2)

    assert recorder.deliveries[:2] == [1, 2]
    assert recorder.calls[0][0] != recorder.calls[1][0]


async def test_a_cancelled_worker_hands_its_job_back_at_once(nc: Client) -> None:
    js = nc.jetstream()
    recorder = Recorder()
    # An ack wait far longer than the test: only the nak on shutdown can redeliver.
    options = WorkerOptions(ack_wait_s=60.0, heartbeat_s=30.0, fetch_timeout_s=0.2)

    async def stuck(ctx: JobContext) -> None:
        recorder.record("a", ctx)
        await asyncio.Event().wait()

    async def quick(ctx: JobContext) -> None:
        recorder.record("b", ctx)

    await publish(js, "ftjob-1")
    async with worker(js, stuck, options) as first:
        await recorder.wait_for_calls(1)
        first.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(first, timeout=5)
    async with worker(js, quick, options):
        await recorder.wait_for_calls(2, timeout_s=3)

    assert [(name, delivery) for name, *_, delivery in recorder.calls] == [("a", 1), ("b", 2)]


async def test_two_workers_share_the_queue_and_each_job_runs_once(nc: Client) -> None:
    js = nc.jetstream()
    recorder = Recorder()

    def busy(name: str) -> JobHandler:
        async def handler(ctx: JobContext) -> None:
            await asyncio.sleep(0.2)
            recorder.record(name, ctx)

        return handler

    job_ids = [f"ftjob-{i}" for i in range(6)]
    async with worker(js, busy("a")):
        await asyncio.sleep(0.1)  # let the first worker create the durable consumer
        async with worker(js, busy("b")):
            for job_id in job_ids:
                await publish(js, job_id)
            await recorder.wait_for_calls(len(job_ids))
            await asyncio.sleep(0.3)

    assert sorted(job for _, job, _, _ in recorder.calls) == job_ids
    assert {name for name, *_ in recorder.calls} == {"a", "b"}
    assert set(recorder.deliveries) == {1}
