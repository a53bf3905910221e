"""ensure_streams against a real nats-server: created once, idempotent, self-healing."""

from __future__ import annotations

from nats.aio.client import Client
from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig

from tuneloop.common.v1 import common_pb2
from tuneloop.trainer.v1 import trainer_pb2
from tuneloop_core.bus import subjects
from tuneloop_core.bus.publish import publish_job
from tuneloop_core.bus.streams import DAY_S, DUPLICATE_WINDOW_S, ensure_streams


async def test_ensure_streams_is_idempotent_and_sets_the_definitions(nc: Client) -> None:
    js = nc.jetstream()
    # The fixture already ran it once; twice more must neither fail nor duplicate.
    await ensure_streams(js)
    await ensure_streams(js)

    names = sorted([str(info.config.name) for info in await js.streams_info()])
    assert names == [subjects.STREAM_ADAPTERS, subjects.STREAM_EVENTS, subjects.STREAM_JOBS]

    jobs = (await js.stream_info(subjects.STREAM_JOBS)).config
    assert jobs.subjects == [subjects.JOBS_WILDCARD]
    assert jobs.retention == RetentionPolicy.WORK_QUEUE
    assert jobs.storage == StorageType.FILE
    assert jobs.duplicate_window == DUPLICATE_WINDOW_S
    assert jobs.max_age == 14 * DAY_S
    assert jobs.discard == DiscardPolicy.NEW

    events = (await js.stream_info(subjects.STREAM_EVENTS)).config
    assert events.subjects == [subjects.EVENTS_WILDCARD]
    assert events.retention == RetentionPolicy.LIMITS
    assert events.storage == StorageType.FILE
    assert events.duplicate_window == DUPLICATE_WINDOW_S
    assert events.max_age == 30 * DAY_S
    assert events.discard == DiscardPolicy.OLD

    adapters = (await js.stream_info(subjects.STREAM_ADAPTERS)).config
    assert adapters.subjects == [subjects.ADAPTERS_WILDCARD]
    assert adapters.retention == RetentionPolicy.LIMITS
    assert adapters.max_msgs_per_subject == 1  # the current state of each import
    assert not adapters.max_age  # kept until deleted: an import never ages out


async def test_ensure_streams_restores_a_drifted_stream_and_keeps_its_messages(
    nc: Client,
) -> None:
    js = nc.jetstream()
    await publish_job(
        js,
        job_id="ftjob-1",
        tenant_id="t",
        kind=common_pb2.JOB_KIND_FINE_TUNE,
        spec=trainer_pb2.FineTuneJobSpec(),
    )
    drifted = (await js.stream_info(subjects.STREAM_JOBS)).config
    drifted.max_age = 3600
    drifted.duplicate_window = 60
    await js.update_stream(StreamConfig.from_response(drifted.as_dict()))
    assert (await js.stream_info(subjects.STREAM_JOBS)).config.max_age == 3600

    await ensure_streams(js)

    info = await js.stream_info(subjects.STREAM_JOBS)
    assert info.config.max_age == 14 * DAY_S
    assert info.config.duplicate_window == DUPLICATE_WINDOW_S
    assert info.state.messages == 1
