"""publish_job and EventPublisher against a real JetStream: payloads, Nats-Msg-Id and
de-duplication, event sequence numbers and resuming them."""

from __future__ import annotations

import pytest
from nats.aio.client import Client
from nats.js import JetStreamContext

from tuneloop.common.v1 import common_pb2
from tuneloop.evaluator.v1 import evaluator_pb2
from tuneloop.events.v1 import events_pb2
from tuneloop.trainer.v1 import trainer_pb2
from tuneloop_core.bus import subjects
from tuneloop_core.bus.publish import (
    MSG_ID_HEADER,
    RESULT_FIELDS,
    SPEC_FIELDS,
    EventPublisher,
    publish_job,
)

FINE_TUNE = common_pb2.JOB_KIND_FINE_TUNE
EVALUATION = common_pb2.JOB_KIND_EVALUATION
DATAGEN = common_pb2.JOB_KIND_DATAGEN


async def stream_messages(js: JetStreamContext, stream: str) -> int:
    return (await js.stream_info(stream)).state.messages


async def events_on(js: JetStreamContext, subject: str) -> list[tuple[str, events_pb2.JobEvent]]:
    """(Nats-Msg-Id, event) of every message stored on `subject`, oldest first."""
    state = (await js.stream_info(subjects.STREAM_EVENTS)).state
    found = []
    for seq in range(state.first_seq, state.last_seq + 1):
        raw = await js.get_msg(subjects.STREAM_EVENTS, seq)
        if raw.subject == subject:
            assert raw.headers is not None
            assert raw.data is not None
            found.append((raw.headers[MSG_ID_HEADER], events_pb2.JobEvent.FromString(raw.data)))
    return found


async def test_publish_job_stores_a_job_requested_on_the_kind_subject(nc: Client) -> None:
    js = nc.jetstream()
    spec = trainer_pb2.FineTuneJobSpec(
        base_model="base",
        training_file="file-a",
        hyperparameters=trainer_pb2.Hyperparameters(n_epochs=3),
        method=trainer_pb2.MethodSettings(lora_rank=8),
        seed=7,
    )
    ack = await publish_job(js, job_id="ftjob-1", tenant_id="tenant-a", kind=FINE_TUNE, spec=spec)
    assert ack.stream == subjects.STREAM_JOBS
    assert not ack.duplicate

    raw = await js.get_msg(subjects.STREAM_JOBS, ack.seq)
    assert raw.subject == "jobs.fine_tune.requested"
    assert raw.headers is not None
    assert raw.headers[MSG_ID_HEADER] == "ftjob-1:1"
    assert raw.data is not None
    request = events_pb2.JobRequested.FromString(raw.data)
    assert request.job_id == "ftjob-1"
    assert request.tenant_id == "tenant-a"
    assert request.kind == FINE_TUNE
    assert request.attempt == 1
    assert request.requested_at.seconds > 0
    assert request.WhichOneof("spec") == "fine_tune"
    assert request.fine_tune == spec
    assert request.fine_tune.hyperparameters.HasField("n_epochs")
    assert not request.fine_tune.hyperparameters.HasField("batch_size")  # "auto" stays unset


def test_a_message_queued_with_the_old_untyped_spec_reads_as_no_spec() -> None:
    """Field 4 held a JSON spec before every kind had a typed one; a message still queued
    from then parses, with no spec set, and its worker fails the job as invalid."""
    old = events_pb2.JobRequested(job_id="dgjob-1", kind=DATAGEN).SerializeToString()
    old += bytes([4 << 3 | 2, 2, 0x0A, 0x00])  # field 4: a Struct with one empty entry
    request = events_pb2.JobRequested.FromString(old)
    assert request.job_id == "dgjob-1" and request.WhichOneof("spec") is None


async def test_a_message_that_is_no_job_spec_is_refused(nc: Client) -> None:
    js = nc.jetstream()
    with pytest.raises(TypeError, match="JobRequested has no field of type"):
        await publish_job(
            js, job_id="ftjob-1", tenant_id="t", kind=FINE_TUNE, spec=trainer_pb2.Recipe()
        )
    with pytest.raises(TypeError, match="does not belong to job kind"):
        await publish_job(
            js, job_id="ftjob-1", tenant_id="t", kind=EVALUATION, spec=trainer_pb2.FineTuneJobSpec()
        )
    assert await stream_messages(js, subjects.STREAM_JOBS) == 0


async def test_publish_job_deduplicates_an_attempt_but_queues_the_next(nc: Client) -> None:
    js = nc.jetstream()
    first = await publish_job(
        js, job_id="ftjob-1", tenant_id="t", kind=FINE_TUNE, spec=trainer_pb2.FineTuneJobSpec()
    )
    again = await publish_job(
        js, job_id="ftjob-1", tenant_id="t", kind=FINE_TUNE, spec=trainer_pb2.FineTuneJobSpec()
    )
    assert not first.duplicate
    assert again.duplicate is True
    assert again.seq == first.seq
    assert await stream_messages(js, subjects.STREAM_JOBS) == 1

    resumed = await publish_job(
        js,
        job_id="ftjob-1",
        tenant_id="t",
        kind=FINE_TUNE,
        spec=trainer_pb2.FineTuneJobSpec(),
        attempt=2,
    )
    assert not resumed.duplicate
    assert resumed.seq == first.seq + 1
    other = await publish_job(
        js, job_id="ftjob-2", tenant_id="t", kind=FINE_TUNE, spec=trainer_pb2.FineTuneJobSpec()
    )
    assert not other.duplicate
    assert await stream_messages(js, subjects.STREAM_JOBS) == 3


async def test_event_publisher_numbers_events_from_one(nc: Client) -> None:
    js = nc.jetstream()
    publisher = EventPublisher(js, FINE_TUNE, "ftjob-1")
    sent = [
        await publisher.publish("tokenising", progress=events_pb2.Progress(stage="tok", done=1)),
        await publisher.publish("a note", level="warning", note=events_pb2.Note()),
        await publisher.status(common_pb2.JOB_STATUS_RUNNING, "started"),
    ]
    assert [e.seq for e in sent] == [1, 2, 3]
    assert publisher.next_seq == 4

    stored = await events_on(js, "events.fine_tune.ftjob-1")
    assert [msg_id for msg_id, _ in stored] == ["ftjob-1:1", "ftjob-1:2", "ftjob-1:3"]
    assert [event for _, event in stored] == sent
    assert [e.WhichOneof("payload") for _, e in stored] == [
        "progress",
        "note",
        "status_changed",
    ]
    assert stored[1][1].level == "warning"
    assert stored[0][1].kind == FINE_TUNE


async def test_status_events_carry_result_or_error(nc: Client) -> None:
    js = nc.jetstream()
    publisher = EventPublisher(js, EVALUATION, "evaljob-1")
    result = evaluator_pb2.EvaluationResult(best_model="m", verdict="better")
    done = await publisher.status(common_pb2.JOB_STATUS_SUCCEEDED, "done", result=result)
    failed = await publisher.status(
        common_pb2.JOB_STATUS_FAILED,
        "broken",
        error=common_pb2.Error(message="bad file", code="invalid_file_format"),
    )
    assert done.level == "info"
    assert done.status_changed.evaluation == result
    assert failed.level == "error"
    assert failed.status_changed.status == common_pb2.JOB_STATUS_FAILED
    assert failed.status_changed.error.code == "invalid_file_format"
    assert [e for _, e in await events_on(js, "events.evaluation.evaljob-1")] == [done, failed]


async def test_resume_continues_after_the_last_event_of_that_job(nc: Client) -> None:
    js = nc.jetstream()
    first = EventPublisher(js, FINE_TUNE, "ftjob-1")
    for i in range(3):
        await first.publish(f"step {i}", note=events_pb2.Note())
    # Another job's and another kind's events must not move the sequence.
    await EventPublisher(js, FINE_TUNE, "ftjob-2").publish("x", note=events_pb2.Note())

    taken_over = await EventPublisher.resume(js, FINE_TUNE, "ftjob-1")
    assert taken_over.next_seq == 4
    event = await taken_over.publish("resumed", note=events_pb2.Note())
    assert event.seq == 4

    assert (await EventPublisher.resume(js, FINE_TUNE, "ftjob-2")).next_seq == 2
    assert (await EventPublisher.resume(js, FINE_TUNE, "ftjob-new")).next_seq == 1
    assert (await EventPublisher.resume(js, EVALUATION, "ftjob-1")).next_seq == 1


async def test_republishing_a_seq_is_dropped_by_its_msg_id(nc: Client) -> None:
    js = nc.jetstream()
    original = EventPublisher(js, FINE_TUNE, "ftjob-1")
    await original.publish("one", note=events_pb2.Note())
    await original.publish("two", note=events_pb2.Note())
    assert await stream_messages(js, subjects.STREAM_EVENTS) == 2

    # A worker that crashed before recording its progress publishes seq 2 again.
    retry = EventPublisher(js, FINE_TUNE, "ftjob-1", next_seq=2)
    await retry.publish("two, again", note=events_pb2.Note())

    assert await stream_messages(js, subjects.STREAM_EVENTS) == 2
    stored = await events_on(js, "events.fine_tune.ftjob-1")
    assert [(e.seq, e.message) for _, e in stored] == [(1, "one"), (2, "two")]


@pytest.mark.parametrize("fields", [SPEC_FIELDS, RESULT_FIELDS], ids=["spec", "result"])
def test_each_typed_spec_and_result_belongs_to_one_job_kind(
    fields: dict[str, tuple[str, int]],
) -> None:
    kinds = [kind for _, kind in fields.values()]
    assert len(set(kinds)) == len(kinds)
    assert set(kinds) == set(common_pb2.JobKind.values()) - {common_pb2.JOB_KIND_UNSPECIFIED}
    assert SPEC_FIELDS["tuneloop.trainer.v1.FineTuneJobSpec"] == ("fine_tune", FINE_TUNE)
    assert RESULT_FIELDS["tuneloop.trainer.v1.FineTuneResult"] == ("fine_tune", FINE_TUNE)


async def test_a_status_change_carries_the_kinds_typed_result(nc: Client) -> None:
    js = nc.jetstream()
    publisher = EventPublisher(js, FINE_TUNE, "ftjob-1")
    result = trainer_pb2.FineTuneResult(fine_tuned_model="ft:m:t::ftjob-1", trained_tokens=7)
    await publisher.status(common_pb2.JOB_STATUS_SUCCEEDED, "done", result=result)
    with pytest.raises(TypeError, match="does not belong to job kind"):
        await publisher.status(
            common_pb2.JOB_STATUS_SUCCEEDED, "done", result=trainer_pb2.ExportResult()
        )
    with pytest.raises(TypeError, match="StatusChanged has no field of type"):
        await publisher.status(common_pb2.JOB_STATUS_SUCCEEDED, "done", result=trainer_pb2.Recipe())
    [(_, event)] = await events_on(js, "events.fine_tune.ftjob-1")
    change = event.status_changed
    assert change.WhichOneof("result") == "fine_tune" and change.fine_tune == result


def test_a_status_change_with_the_old_untyped_result_reads_as_no_result() -> None:
    """Field 2 held a JSON result before every kind had a typed one."""
    old = events_pb2.StatusChanged(status=common_pb2.JOB_STATUS_SUCCEEDED).SerializeToString()
    old += bytes([2 << 3 | 2, 2, 0x0A, 0x00])  # field 2: a Struct with one empty entry
    change = events_pb2.StatusChanged.FromString(old)
    assert change.status == common_pb2.JOB_STATUS_SUCCEEDED
    assert change.WhichOneof("result") is None
