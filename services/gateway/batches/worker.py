"""The batch worker (OpenAI's Batch API), run inside the gateway process: each line of the
input file is answered by the gateway's own service for the batch's endpoint.

Lines go in chunks of `concurrency` requests at once, so the inference engine batches them;
after each chunk the records are appended (fsynced) to the output and error files, the
counts are published (request_counts while it runs) and a cancel is noticed. A redelivered
batch (its worker died) reads those files back and answers only the lines not in them.

Cancelling is the job's PAUSED status (the API's "cancelling"): the worker stops at the
next chunk and ends the job CANCELLED with what it wrote so far, as files of the tenant.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine
from typing import Any

from nats.js import JetStreamContext

from services.gateway.batches.answer import answer
from services.gateway.batches.lines import Line, error_record, output_record, parse_lines
from services.gateway.batches.partial import PartialFiles, Tally
from services.gateway.registry.models import Tenant
from services.gateway.state import GatewayState
from tuneloop.common.v1 import common_pb2
from tuneloop.events.v1 import events_pb2
from tuneloop.gateway.v1 import batches_pb2, gateway_pb2_grpc
from tuneloop_core import layout
from tuneloop_core.bus.jobrun import STOPPED, JobCancelled, JobRun, JobWorker, announce_taken
from tuneloop_core.bus.worker import JobContext
from tuneloop_core.errors import InternalError, InvalidRequestError, TuneloopError
from tuneloop_core.grpc.client import open_channel
from tuneloop_core.jobspecs import batch
from tuneloop_core.runtime import ServiceRuntime

log = logging.getLogger(__name__)

KIND = common_pb2.JOB_KIND_BATCH
OUTPUT_PURPOSE = "batch_output"  # OpenAI's purpose of a batch's output and error files
SETTLE_S = 30  # how long a finished batch waits for the registry to apply its end
RETRIES, RETRY_DELAY_S = 3, 2.0  # a retryable failure waits 2, 4, 8 s before each retry


async def _finish_writing(write: Coroutine[Any, Any, None]) -> None:
    """Await a chunk's write even through a cancel (a shutdown hands the job back): the job
    is redelivered only once its files hold the whole chunk, so the next worker reads it."""
    task = asyncio.ensure_future(write)
    try:
        await asyncio.shield(task)
    except asyncio.CancelledError:
        await task
        raise


class BatchWorker(JobWorker):
    kind = KIND
    title = "batch"

    def __init__(
        self,
        state: GatewayState,
        js: JetStreamContext,
        gateway: gateway_pb2_grpc.GatewayServiceAsyncStub,
        control_poll_s: float = 2.0,
    ):
        super().__init__(js, gateway, control_poll_s)
        self.state = state
        self.concurrency = state.settings.batch_concurrency

    def files(self, job_id: str) -> PartialFiles:
        store = self.state.artifacts
        return PartialFiles(
            store.path(layout.batch_output(job_id)), store.path(layout.batch_errors(job_id))
        )

    async def handle(self, ctx: JobContext) -> None:
        """`JobWorker.handle` with one status read deciding: a batch cancelled before a
        worker took it (or whose worker died while cancelling) is ended cancelled here; a
        cancel after this read is noticed by `work`."""
        job_id = ctx.request.job_id
        run = await JobRun.open(self.js, self.gateway, self.kind, job_id, self.control_poll_s)
        status = await run.status()
        if status == common_pb2.JOB_STATUS_PAUSED:
            async with run.guard(self.title):
                tally = await asyncio.to_thread(self.files(job_id).recover)
                await self._cancelled(run, ctx.request, tally)
            return
        if status in STOPPED:
            return
        run.delivery = ctx.delivery
        await announce_taken(run.events, ctx)
        async with run.guard(self.title):
            await self.work(run, status, ctx.request)

    async def work(self, run: JobRun, status: int, request: events_pb2.JobRequested) -> None:
        spec = request.batch
        batch.check(spec)
        lines = await self._lines(request.tenant_id, spec)
        files = self.files(request.job_id)
        tally = await asyncio.to_thread(files.recover)
        pending = [line for line in lines if line.number not in tally.lines]
        if status != common_pb2.JOB_STATUS_RUNNING:
            await run.running(f"Answering {len(lines)} request(s) to {spec.endpoint}.")
        elif tally.lines:
            await run.note(
                f"Resuming: {len(tally.lines)} of {len(lines)} request(s) were answered before.",
                resumed_after=len(tally.lines),
            )
        tenant = Tenant(id=request.tenant_id, name="")  # detached: the services read its id
        try:
            for start in range(0, len(pending), self.concurrency):
                await run.check_cancelled()
                chunk = pending[start : start + self.concurrency]
                records = await asyncio.gather(
                    *(self._record(tenant, spec.endpoint, line) for line in chunk)
                )
                outputs = [r for r, ok in records if ok]
                errors = [r for r, ok in records if not ok]
                await _finish_writing(asyncio.to_thread(files.append, outputs, errors))
                for record, ok in records:
                    tally.add(record, ok)
                await self._progress(run, tally, len(lines))
        except JobCancelled:
            await self._cancelled(run, request, tally)
            return
        await run.succeed(
            f"{tally.completed} of {len(lines)} request(s) completed, {tally.failed} failed.",
            result=self._result(request, tally, len(lines)),
        )
        await self._settle(run, request, tally)

    async def _settle(self, run: JobRun, request: events_pb2.JobRequested, tally: Tally) -> None:
        """A cancel that lands after the last chunk makes the job PAUSED before "succeeded"
        is applied, which is then refused: once the registry has decided, such a batch is
        ended cancelled, with every line's record kept, rather than left cancelling."""
        status: int = common_pb2.JOB_STATUS_RUNNING
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(SETTLE_S):
                # The registry is another consumer's; its status is asked, not awaited.
                while (status := await run.status()) == common_pb2.JOB_STATUS_RUNNING:  # noqa: ASYNC110
                    await asyncio.sleep(0.1)
        if status == common_pb2.JOB_STATUS_PAUSED:
            await self._cancelled(run, request, tally)
        elif status == common_pb2.JOB_STATUS_RUNNING:
            log.warning("batch %s: its end was not applied within %d s", request.job_id, SETTLE_S)

    async def _lines(self, tenant_id: str, spec: batches_pb2.BatchJobSpec) -> list[Line]:
        file = await self.state.registry.get_file(tenant_id, spec.input_file_id)
        data = await asyncio.to_thread(self.state.artifacts.path(file.path).read_bytes)
        return parse_lines(data, spec.endpoint)

    async def _record(
        self, tenant: Tenant, endpoint: str, line: Line
    ) -> tuple[dict[str, Any], bool]:
        """The line's output record (True) or error record (False). A retryable error (the
        engine unavailable, a deadline) is tried again after a pause, RETRIES times."""
        if line.problem is not None or line.body is None:
            return error_record(line, line.problem or InvalidRequestError("no body")), False
        for attempt in range(RETRIES + 1):
            try:
                body = await answer(self.state, tenant, endpoint, line.body)
                return output_record(line, body), True
            except TuneloopError as exc:
                if not exc.retryable or attempt == RETRIES:
                    return error_record(line, exc), False
                await asyncio.sleep(RETRY_DELAY_S * 2**attempt)
            except Exception as exc:
                log.exception("batch line %d failed", line.number)
                failure = InternalError(f"{type(exc).__name__}: {exc}", code="batch_line_failed")
                return error_record(line, failure), False
        raise AssertionError("unreachable")  # the last attempt returns

    @staticmethod
    async def _progress(run: JobRun, tally: Tally, total: int) -> None:
        done = tally.completed + tally.failed
        await run.note(
            f"{done}/{total} request(s): {tally.completed} completed, {tally.failed} failed.",
            request_counts={"total": total, "completed": tally.completed, "failed": tally.failed},
        )
        await run.progress("requests", done, total)

    def _result(
        self, request: events_pb2.JobRequested, tally: Tally, total: int
    ) -> batches_pb2.BatchResult:
        result = batches_pb2.BatchResult(
            total=total,
            completed=tally.completed,
            failed=tally.failed,
            usage=common_pb2.Usage(
                prompt_tokens=tally.prompt_tokens, completion_tokens=tally.completion_tokens
            ),
        )
        job_id = request.job_id
        for relpath, field, count, name in (
            (layout.batch_output(job_id), "output_file", tally.completed, "output"),
            (layout.batch_errors(job_id), "error_file", tally.failed, "errors"),
        ):
            if count:
                path = layout.in_data_dir(relpath)
                setattr(result, field, path)
                result.files.add(
                    path=path, filename=f"{job_id}_{name}.jsonl", purpose=OUTPUT_PURPOSE
                )
        return result

    async def _cancelled(self, run: JobRun, request: events_pb2.JobRequested, tally: Tally) -> None:
        total = request.batch.total_lines
        await run.events.status(
            common_pb2.JOB_STATUS_CANCELLED,
            f"Cancelled: {tally.completed} request(s) completed, {tally.failed} failed, "
            f"{max(total - tally.completed - tally.failed, 0)} not run.",
            result=self._result(request, tally, total),
        )


def start_batch_worker(runtime: ServiceRuntime, state: GatewayState) -> None:
    """Take batch jobs for the life of the gateway process; the worker asks the process's
    own GatewayService about its jobs, like every other worker does."""
    assert runtime.grpc is not None, "start the gateway's gRPC server first"
    channel = open_channel(f"127.0.0.1:{runtime.grpc.port}", patient=True)
    runtime.enter_async_callback(channel.close)
    worker = BatchWorker(state, runtime.js, gateway_pb2_grpc.GatewayServiceStub(channel))
    runtime.start_worker(KIND, worker.handle)
