"""What a handler of any job kind shares: its events, its status, how it ends.

A handler builds a `JobRun` for the job it took, and runs its body under `JobRun.guard`:
a `TuneloopError` ends the job `failed` with that error (the OpenAI shape), anything else
`failed` with an internal error, and a cancel requested through the API stops the body at
its next `check_cancelled()`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from google.protobuf.message import Message
from nats.js import JetStreamContext

from tuneloop.common.v1 import common_pb2
from tuneloop.events.v1 import events_pb2
from tuneloop.gateway.v1 import gateway_pb2, gateway_pb2_grpc
from tuneloop_core.bus.publish import EventPublisher
from tuneloop_core.bus.worker import JobContext, worker_id
from tuneloop_core.errors import InternalError, TuneloopError
from tuneloop_core.grpc.client import call

log = logging.getLogger(__name__)

STOPPED = frozenset(
    {
        common_pb2.JOB_STATUS_CANCELLED,
        common_pb2.JOB_STATUS_PAUSED,
        common_pb2.JOB_STATUS_SUCCEEDED,
        common_pb2.JOB_STATUS_FAILED,
    }
)


class JobCancelled(Exception):
    """Raised by `check_cancelled` when the job was cancelled (or otherwise ended)."""


def note(data: dict[str, Any]) -> events_pb2.Note:
    """A Note payload carrying `data` (JSON-like)."""
    out = events_pb2.Note()
    out.data.update(data)
    return out


async def announce_taken(events: EventPublisher, ctx: JobContext) -> None:
    """An event naming the worker that took the job and which delivery this is."""
    me = worker_id()
    await events.publish(
        f"Taken by worker {me} (delivery {ctx.delivery}).",
        note=note({"worker": me, "delivery": ctx.delivery}),
    )


def error_pb(exc: TuneloopError) -> common_pb2.Error:
    return common_pb2.Error(
        message=exc.message, code=exc.code, param=exc.param or "", type=exc.openai_type
    )


class JobRun:
    """One job being worked on: publishes its events, reads its status from the gateway."""

    def __init__(
        self,
        events: EventPublisher,
        gateway: gateway_pb2_grpc.GatewayServiceAsyncStub,
        poll_s: float = 2.0,
    ):
        self.events = events
        self.job_id = events.job_id
        self.gateway = gateway
        self.poll_s = poll_s
        self.delivery = 1  # which delivery of the job's message this run works on
        self._checked_at = float("-inf")
        self._stopped = False

    @classmethod
    async def open(
        cls,
        js: JetStreamContext,
        gateway: gateway_pb2_grpc.GatewayServiceAsyncStub,
        kind: int,
        job_id: str,
        poll_s: float = 2.0,
    ) -> JobRun:
        """A run whose events continue after any a previous worker published."""
        return cls(await EventPublisher.resume(js, kind, job_id), gateway, poll_s)

    @classmethod
    async def take(
        cls,
        js: JetStreamContext,
        gateway: gateway_pb2_grpc.GatewayServiceAsyncStub,
        kind: int,
        job_id: str,
        poll_s: float = 2.0,
    ) -> tuple[JobRun, int] | None:
        """The run of a job taken from the queue and its current status; None when the job
        was cancelled, paused or finished meanwhile (a redelivery), so there is nothing to do."""
        run = await cls.open(js, gateway, kind, job_id, poll_s)
        status = await run.status()
        if status in STOPPED:
            log.info("job %s has status %d; nothing to do", job_id, status)
            return None
        return run, status

    async def status(self) -> int:
        reply = await call(
            self.gateway.GetJobStatus, gateway_pb2.GetJobStatusRequest(job_id=self.job_id)
        )
        return int(reply.status)

    async def check_cancelled(self) -> None:
        """Raise JobCancelled if the job was stopped; asks the gateway at most every poll_s."""
        now = time.monotonic()
        if not self._stopped and now - self._checked_at >= self.poll_s:
            self._checked_at = now
            self._stopped = await self.status() in STOPPED
        if self._stopped:
            raise JobCancelled(self.job_id)

    async def running(self, message: str, result: Message | None = None) -> None:
        await self.events.status(common_pb2.JOB_STATUS_RUNNING, message, result=result)

    async def progress(self, stage: str, done: int, total: int, message: str = "") -> None:
        shown = message or (f"{stage}: {done}/{total}" if total else f"{stage}: {done}")
        await self.events.publish(
            shown, progress=events_pb2.Progress(stage=stage, done=done, total=total)
        )

    async def note(self, message: str, level: str = "info", **data: Any) -> None:
        await self.events.publish(message, level=level, note=note(data))

    async def succeed(self, message: str, result: Message) -> None:
        """End the job `succeeded` with the kind's typed *Result."""
        await self.events.status(common_pb2.JOB_STATUS_SUCCEEDED, message, result=result)

    async def fail(self, exc: TuneloopError) -> None:
        await self.events.status(common_pb2.JOB_STATUS_FAILED, exc.message, error=error_pb(exc))

    @asynccontextmanager
    async def guard(self, what: str) -> AsyncIterator[None]:
        """Run a job body: errors end the job `failed`, a cancel ends it quietly."""
        try:
            yield
        except JobCancelled:
            log.info("%s %s stopped: it was cancelled", what, self.job_id)
        except TuneloopError as exc:
            await self.fail(exc)
        except Exception as exc:
            log.exception("%s %s failed", what, self.job_id)
            await self.fail(
                InternalError(f"{what} failed: {type(exc).__name__}: {exc}", code=f"{what}_failed")
            )


class JobWorker:
    """Base of a job kind's worker: takes the job (nothing to do when it was cancelled,
    paused or finished meanwhile) and runs `work` under the run's guard."""

    kind: int  # common_pb2.JOB_KIND_*
    title: str  # names the job in logs and internal errors, e.g. "export"

    def __init__(
        self,
        js: JetStreamContext,
        gateway: gateway_pb2_grpc.GatewayServiceAsyncStub,
        control_poll_s: float = 2.0,
    ):
        self.js = js
        self.gateway = gateway
        self.control_poll_s = control_poll_s

    async def handle(self, ctx: JobContext) -> None:
        taken = await JobRun.take(
            self.js, self.gateway, self.kind, ctx.request.job_id, poll_s=self.control_poll_s
        )
        if taken is None:
            return
        run, status = taken
        run.delivery = ctx.delivery
        await announce_taken(run.events, ctx)
        async with run.guard(self.title):
            await self.work(run, status, ctx.request)

    async def work(self, run: JobRun, status: int, request: events_pb2.JobRequested) -> None:
        """The job's body; `status` is the job's status when it was taken (RUNNING when a
        worker that died had already started it)."""
        raise NotImplementedError
