"""De-duplicated publishing of job requests and job events (protobuf payloads)."""

from __future__ import annotations

from typing import Any

import nats.errors
import nats.js.errors
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp
from nats.js import JetStreamContext
from nats.js.api import PubAck
from nats.js.errors import NotFoundError
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_delay, wait_exponential

from tuneloop.common.v1 import common_pb2
from tuneloop.events.v1 import events_pb2
from tuneloop_core.bus import subjects

MSG_ID_HEADER = "Nats-Msg-Id"
# What JetStream raises while its server restarts or fails over; a job's events are
# retried through it (their Nats-Msg-Id makes a repeat harmless) so a long job survives.
TRANSIENT = (
    TimeoutError,  # nats.errors.TimeoutError is one too
    nats.errors.NoRespondersError,
    nats.errors.ConnectionReconnectingError,
    nats.errors.OutboundBufferLimitError,
    nats.errors.StaleConnectionError,
    nats.js.errors.ServiceUnavailableError,
    # The server took the publish but its stream did not answer yet (still recovering
    # after a restart, seen under load): the same message id makes the retry harmless.
    nats.js.errors.NoStreamResponseError,
)
EVENT_PUBLISH_PATIENCE_S = 120.0


def _typed_fields(message: type[Message], oneof: str) -> dict[str, tuple[str, int]]:
    """A oneof of per-kind messages: full message name → (its field, the job kind it
    belongs to). The protos' rule, field number = 10 + the JobKind number, says the kind."""
    return {
        field.message_type.full_name: (field.name, field.number - 10)
        for field in message.DESCRIPTOR.oneofs_by_name[oneof].fields
        if field.message_type is not None  # every one is a message; this tells mypy
    }


# JobRequested's `spec`: each kind's typed *JobSpec; StatusChanged's `result`: its *Result.
SPEC_FIELDS = _typed_fields(events_pb2.JobRequested, "spec")
RESULT_FIELDS = _typed_fields(events_pb2.StatusChanged, "result")


def _set_typed(
    target: Message, fields: dict[str, tuple[str, int]], value: Message, kind: int
) -> None:
    """Copy `value` into the oneof field of its type; a TypeError (a contract bug, not a bad
    request) for a message that field doesn't take or that belongs to another kind."""
    name = value.DESCRIPTOR.full_name
    if name not in fields:
        raise TypeError(f"{target.DESCRIPTOR.name} has no field of type {name}")
    field, its_kind = fields[name]
    if its_kind != kind:
        raise TypeError(f"a {name} does not belong to job kind {kind}")
    getattr(target, field).CopyFrom(value)


def _now() -> Timestamp:
    stamp = Timestamp()
    stamp.GetCurrentTime()
    return stamp


async def publish_job(
    js: JetStreamContext,
    *,
    job_id: str,
    tenant_id: str,
    kind: int,
    spec: Message,
    attempt: int = 1,
) -> PubAck:
    """Queue a job on `jobs.<kind>.requested` with `spec`, the kind's typed *JobSpec (a
    TypeError for any other message: a contract bug, not a bad request). The Nats-Msg-Id is
    `<job_id>:<attempt>`, so a retried publish of the same attempt is dropped by JetStream
    inside the duplicate window while a resume (next attempt) is queued again."""
    request = events_pb2.JobRequested(
        job_id=job_id,
        tenant_id=tenant_id,
        kind=kind,  # type: ignore[arg-type]
        attempt=attempt,
        requested_at=_now(),
    )
    _set_typed(request, SPEC_FIELDS, spec, kind)
    return await js.publish(
        subjects.job_requested(kind),
        request.SerializeToString(),
        headers={MSG_ID_HEADER: f"{job_id}:{attempt}"},
    )


class EventPublisher:
    """Publishes the events of one job with increasing `seq`; each publish is de-duplicated
    by its Nats-Msg-Id `<job_id>:<seq>`."""

    patience_s = EVENT_PUBLISH_PATIENCE_S  # how long a publish is retried through outages

    def __init__(self, js: JetStreamContext, kind: int, job_id: str, next_seq: int = 1):
        self._js = js
        self.kind = kind
        self.job_id = job_id
        self.subject = subjects.job_events(kind, job_id)
        self.next_seq = next_seq

    @classmethod
    async def resume(cls, js: JetStreamContext, kind: int, job_id: str) -> EventPublisher:
        """A publisher that continues after the job's last published event (a worker taking
        over a job another one started)."""
        try:
            last = await js.get_last_msg(subjects.STREAM_EVENTS, subjects.job_events(kind, job_id))
        except NotFoundError:
            return cls(js, kind, job_id)
        previous = events_pb2.JobEvent.FromString(last.data or b"")
        return cls(js, kind, job_id, next_seq=previous.seq + 1)

    async def publish(
        self, message: str, level: str = "info", *, dedup_key: str = "", **payload: Any
    ) -> events_pb2.JobEvent:
        """Publish one event; `payload` is one oneof field, e.g. `progress=Progress(...)`.
        With `dedup_key`, the Nats-Msg-Id is `<job_id>:<dedup_key>` instead of the seq, so
        JetStream drops the event if a worker before this one published it already (e.g.
        "epoch 2 saved" announced again on resume)."""
        event = events_pb2.JobEvent(
            job_id=self.job_id,
            kind=self.kind,  # type: ignore[arg-type]
            seq=self.next_seq,
            created_at=_now(),
            level=level,
            message=message,
            **payload,
        )
        retrying = AsyncRetrying(
            retry=retry_if_exception_type(TRANSIENT),
            stop=stop_after_delay(self.patience_s),
            wait=wait_exponential(multiplier=0.2, max=2.0),
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                await self._js.publish(
                    self.subject,
                    event.SerializeToString(),
                    headers={MSG_ID_HEADER: f"{self.job_id}:{dedup_key or self.next_seq}"},
                )
        self.next_seq += 1
        return event

    async def status(
        self,
        status: int,
        message: str,
        *,
        result: Message | None = None,
        error: common_pb2.Error | None = None,
    ) -> events_pb2.JobEvent:
        """Publish a status change (the registry applies it if the transition is allowed),
        with the kind's typed *Result when there is one."""
        change = events_pb2.StatusChanged(status=status)  # type: ignore[arg-type]
        if result is not None:
            _set_typed(change, RESULT_FIELDS, result, self.kind)
        if error is not None:
            change.error.CopyFrom(error)
        level = "error" if status == common_pb2.JOB_STATUS_FAILED else "info"
        return await self.publish(message, level=level, status_changed=change)
