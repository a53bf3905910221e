"""The pull-consumer loop every worker reuses.

One durable consumer per job kind is shared by all workers of that kind, so JetStream
hands each job to one of them. While a handler runs, the loop sends `in_progress()` as a
heartbeat so a long step is not redelivered; if the worker dies, the heartbeat stops, the
ack wait runs out and another worker gets the job (and resumes from its last checkpoint).

Outcome → acknowledgement:
- handler returns                        → ack
- raises a retryable TuneloopError       → nak(delay): try again later, maybe elsewhere
- raises any other TuneloopError         → term: a permanent failure, never redelivered
- raises anything else                   → nak(delay) until max_deliver, then term
- the worker is cancelled (shutdown)     → nak(0): another worker takes it now
- the payload is not a JobRequested      → term (a poison message)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from google.protobuf.message import DecodeError
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig

from tuneloop.events.v1 import events_pb2
from tuneloop_core.bus import subjects
from tuneloop_core.errors import TuneloopError
from tuneloop_core.logs import job_id_var
from tuneloop_core.metrics import JOBS_HANDLED

log = logging.getLogger(__name__)


def worker_id() -> str:
    """Names this worker process in job events ("host:pid"), so operators (and tests) can
    tell which worker holds a job."""
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass
class WorkerOptions:
    """Timing of the loop, in seconds unless named otherwise."""

    ack_wait_s: float = 30.0  # redelivered to another worker after this much silence
    heartbeat_s: float = 10.0  # in_progress() interval while a handler runs
    max_deliver: int = 5  # deliveries before an unexpectedly failing job is terminated
    nak_delay_s: float = 5.0  # back-off before a failed delivery is retried
    fetch_timeout_s: float = 1.0  # how long one fetch waits for work (bounds shutdown time)


@dataclass
class JobContext:
    """What a handler gets: the decoded request, delivery count and a heartbeat."""

    request: events_pb2.JobRequested
    delivery: int
    msg: Msg = field(repr=False)

    async def heartbeat(self) -> None:
        """Tell JetStream the job is still being worked on (resets the ack wait)."""
        await self.msg.in_progress()


JobHandler = Callable[[JobContext], Awaitable[None]]


async def _beat(msg: Msg, every_s: float) -> None:
    while True:
        await asyncio.sleep(every_s)
        with contextlib.suppress(Exception):  # a missed beat is retried on the next tick
            await msg.in_progress()


async def process_message(msg: Msg, handler: JobHandler, options: WorkerOptions) -> str:
    """Run the handler on one message and settle it; returns "ack", "nak" or "term"."""
    try:
        request = events_pb2.JobRequested.FromString(msg.data)
    except DecodeError:
        log.error("terminating undecodable job message on %s", msg.subject)
        await msg.term()
        return "term"
    delivery = msg.metadata.num_delivered or 1
    token = job_id_var.set(request.job_id)
    heartbeat = asyncio.create_task(_beat(msg, options.heartbeat_s))
    try:
        await handler(JobContext(request=request, delivery=delivery, msg=msg))
    except asyncio.CancelledError:
        await asyncio.shield(msg.nak())
        raise
    except TuneloopError as exc:
        if exc.retryable and delivery < options.max_deliver:
            log.warning("job failed (retryable, delivery %d): %s", delivery, exc.message)
            await msg.nak(delay=options.nak_delay_s)
            return "nak"
        log.warning("job failed permanently: %s", exc.message)
        await msg.term()
        return "term"
    except Exception:
        if delivery >= options.max_deliver:
            log.exception("job failed on its last delivery (%d); terminating", delivery)
            await msg.term()
            return "term"
        log.exception("job failed on delivery %d; will retry", delivery)
        await msg.nak(delay=options.nak_delay_s)
        return "nak"
    finally:
        heartbeat.cancel()
        job_id_var.reset(token)
    await msg.ack()
    return "ack"


async def run_worker(
    js: JetStreamContext,
    kind: int,
    handler: JobHandler,
    stop: asyncio.Event,
    options: WorkerOptions | None = None,
) -> None:
    """Take jobs of `kind` one at a time until `stop` is set."""
    options = options or WorkerOptions()
    subscription = await js.pull_subscribe(
        subjects.job_requested(kind),
        durable=subjects.worker_durable(kind),
        stream=subjects.STREAM_JOBS,
        config=ConsumerConfig(
            ack_policy=AckPolicy.EXPLICIT,
            ack_wait=options.ack_wait_s,
            max_deliver=options.max_deliver + 1,  # the loop terms on the last one itself
        ),
    )
    log.info("worker for %s started", subjects.kind_token(kind))
    try:
        while not stop.is_set():
            try:
                messages = await subscription.fetch(1, timeout=options.fetch_timeout_s)
            except TimeoutError:  # nats raises its own or asyncio's: both are TimeoutError
                continue
            for msg in messages:
                outcome = await process_message(msg, handler, options)
                JOBS_HANDLED.labels(subjects.kind_token(kind), outcome).inc()
    finally:
        # A pull subscription left open makes a later drain() wait for its full timeout.
        await subscription.unsubscribe()
