"""The one writer of job state: applies EVENTS to the registry.

A durable consumer reads every job event in order; each is stored once (the registry's
unique (job_id, seq) makes redeliveries harmless) and a status change is applied only if
the transition is allowed — a late "running" after "cancelled" is recorded, not obeyed.
"""

from __future__ import annotations

import asyncio
import logging

from google.protobuf.message import DecodeError
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from services.gateway.registry.aio import AsyncRegistry
from services.gateway.registry.models import JobEventRow
from services.gateway.registry.records import record, result_record
from services.gateway.registry.store import Registry
from services.gateway.registry.transitions import ALLOWED, JobStatus, status_from_pb
from services.gateway.result_files import register_result_files
from tuneloop.events.v1 import events_pb2
from tuneloop_core.artifacts import ArtifactStore
from tuneloop_core.bus import subjects
from tuneloop_core.errors import ConflictError, NotFoundError, ServiceUnavailableError

log = logging.getLogger(__name__)


def event_row(event: events_pb2.JobEvent) -> JobEventRow:
    payload = event.WhichOneof("payload") or "note"
    data = record(getattr(event, payload))
    return JobEventRow(
        job_id=event.job_id,
        seq=event.seq,
        created_at=event.created_at.seconds,
        level=event.level or "info",
        type=payload,
        message=event.message,
        data=data or None,
    )


def apply_event(
    registry: Registry, event: events_pb2.JobEvent, artifacts: ArtifactStore | None = None
) -> bool:
    """Store the event and apply its status change; False if it was already applied.
    Files a finished job lists in its result are registered as the tenant's files."""
    job = registry.get_job(event.job_id)  # NotFoundError for events of unknown jobs
    if not registry.add_event(event_row(event)):
        return False
    if event.WhichOneof("payload") == "status_changed":
        change = event.status_changed
        kind_result = change.WhichOneof("result")
        result = result_record(getattr(change, kind_result)) if kind_result else None
        target = status_from_pb(change.status)
        allowed = target in ALLOWED[JobStatus(job.status)]
        if result and "files" in result and artifacts is not None and allowed:
            result = register_result_files(registry, artifacts, job.tenant_id, result)
        error = record(change.error) if change.HasField("error") else None
        try:
            registry.transition_job(event.job_id, target, result=result, error=error)
        except ConflictError as exc:
            log.warning("ignored status change of %s: %s", event.job_id, exc.message)
    return True


async def _settle(registry: AsyncRegistry, artifacts: ArtifactStore, msg: Msg) -> None:
    try:
        event = events_pb2.JobEvent.FromString(msg.data)
        await registry.run(apply_event, registry.sync, event, artifacts)
    except (DecodeError, NotFoundError) as exc:
        log.warning("dropping event on %s: %s", msg.subject, exc)
        await msg.term()
        return
    except ServiceUnavailableError:
        await msg.nak(delay=2)
        return
    await msg.ack()


async def run_job_state_consumer(
    js: JetStreamContext,
    registry: AsyncRegistry,
    artifacts: ArtifactStore,
    stop: asyncio.Event,
    batch: int = 64,
) -> None:
    """Apply events until `stop` is set."""
    subscription = await js.pull_subscribe(
        subjects.EVENTS_WILDCARD,
        durable=subjects.REGISTRY_CONSUMER,
        stream=subjects.STREAM_EVENTS,
        config=ConsumerConfig(
            ack_policy=AckPolicy.EXPLICIT, deliver_policy=DeliverPolicy.ALL, ack_wait=30
        ),
    )
    try:
        while not stop.is_set():
            try:
                messages = await subscription.fetch(batch, timeout=1)
            except TimeoutError:  # nats raises its own or asyncio's: both are TimeoutError
                continue
            for msg in messages:
                await _settle(registry, artifacts, msg)
    finally:
        await subscription.unsubscribe()  # or the drain at shutdown waits for its timeout
