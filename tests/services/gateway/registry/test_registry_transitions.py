"""Job status transitions: every pair of statuses through the registry, and the
started_at / finished_at / attempt bookkeeping."""

from __future__ import annotations

import itertools
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from sqlalchemy import event

from services.gateway.registry.db import Database
from services.gateway.registry.store import Registry
from services.gateway.registry.transitions import (
    ALLOWED,
    TERMINAL,
    JobStatus,
    check_transition,
    status_from_pb,
    status_to_pb,
)
from tuneloop.common.v1 import common_pb2
from tuneloop_core.errors import ConflictError, NotFoundError

PAIRS = list(itertools.product(JobStatus, JobStatus))


@pytest.fixture
def tenant_id(registry: Registry) -> str:
    return registry.ensure_tenant("acme").id


def test_the_table_covers_every_status_and_terminal_states_are_final() -> None:
    assert set(ALLOWED) == set(JobStatus)
    assert {status for status, targets in ALLOWED.items() if not targets} == TERMINAL
    for targets in ALLOWED.values():
        assert JobStatus.VALIDATING_FILES not in targets  # only ever the first status
    for status in set(JobStatus) - TERMINAL:
        assert JobStatus.CANCELLED in ALLOWED[status]
        assert JobStatus.FAILED in ALLOWED[status]


@pytest.mark.parametrize(
    ("current", "target", "allowed"),
    [
        (JobStatus.QUEUED, JobStatus.RUNNING, True),
        (JobStatus.RUNNING, JobStatus.QUEUED, True),  # a worker hands the job back
        (JobStatus.PAUSED, JobStatus.QUEUED, True),  # resume
        (JobStatus.QUEUED, JobStatus.SUCCEEDED, False),  # nothing ran
        (JobStatus.PAUSED, JobStatus.RUNNING, False),  # a resume queues first
        (JobStatus.SUCCEEDED, JobStatus.RUNNING, False),
        (JobStatus.CANCELLED, JobStatus.QUEUED, False),
        (JobStatus.RUNNING, JobStatus.RUNNING, False),
    ],
)
def test_check_transition_spot_checks(current: JobStatus, target: JobStatus, allowed: bool) -> None:
    if allowed:
        check_transition(current, target)
    else:
        with pytest.raises(ConflictError):
            check_transition(current, target)


@pytest.mark.parametrize(("current", "target"), PAIRS, ids=[f"{a}->{b}" for a, b in PAIRS])
def test_every_transition_through_the_registry(
    registry: Registry, tenant_id: str, current: JobStatus, target: JobStatus
) -> None:
    registry.create_job(tenant_id, "fine_tune", {}, job_id="ftjob-1", status=current)

    if target in ALLOWED[current]:
        job = registry.transition_job("ftjob-1", target)
        assert job.status == target.value
        stored = registry.get_job("ftjob-1")
        assert stored.status == target.value
        assert (stored.finished_at is not None) == (target in TERMINAL)
    else:
        with pytest.raises(ConflictError) as raised:
            registry.transition_job("ftjob-1", target)
        assert raised.value.code == "invalid_status_transition"
        stored = registry.get_job("ftjob-1")
        assert stored.status == current.value
        assert stored.finished_at is None


def test_attempts_count_runs_and_started_at_keeps_the_first_start(
    registry: Registry, tenant_id: str
) -> None:
    job = registry.create_job(tenant_id, "fine_tune", {"model": "m"}, job_id="ftjob-1")
    assert (job.status, job.attempt, job.started_at, job.finished_at) == ("queued", 1, None, None)

    # Paused and resumed before any worker took it: queued again, so a new attempt (each
    # queueing is published under a new Nats-Msg-Id and must not be de-duplicated away).
    registry.transition_job("ftjob-1", JobStatus.PAUSED)
    assert registry.transition_job("ftjob-1", JobStatus.QUEUED).attempt == 2

    running = registry.transition_job("ftjob-1", JobStatus.RUNNING)
    assert running.started_at is not None
    assert running.started_at >= running.created_at
    assert running.attempt == 2
    # Pretend it started long ago, so a later start that overwrote it would show.
    with registry.db.session() as s:
        s.merge(running).started_at = 1000

    assert registry.transition_job("ftjob-1", JobStatus.QUEUED).attempt == 3  # handed back
    again = registry.transition_job("ftjob-1", JobStatus.RUNNING)
    assert (again.attempt, again.started_at) == (3, 1000)
    registry.transition_job("ftjob-1", JobStatus.PAUSED)
    assert registry.transition_job("ftjob-1", JobStatus.QUEUED).attempt == 4  # resumed
    registry.transition_job("ftjob-1", JobStatus.RUNNING)

    done = registry.transition_job("ftjob-1", JobStatus.SUCCEEDED, result={"model": "ft:m:1"})
    stored = registry.get_job("ftjob-1")
    assert stored.finished_at is not None
    assert stored.finished_at >= done.created_at
    assert (stored.attempt, stored.started_at, stored.result) == (4, 1000, {"model": "ft:m:1"})
    assert stored.error is None


def test_a_job_cancelled_in_the_queue_never_started(registry: Registry, tenant_id: str) -> None:
    registry.create_job(tenant_id, "fine_tune", {}, job_id="ftjob-1")
    job = registry.transition_job("ftjob-1", JobStatus.CANCELLED)
    assert (job.started_at, job.attempt) == (None, 1)
    assert job.finished_at is not None


def test_a_failed_job_keeps_its_error(registry: Registry, tenant_id: str) -> None:
    registry.create_job(
        tenant_id, "fine_tune", {}, job_id="ftjob-1", status=JobStatus.VALIDATING_FILES
    )
    error = {"message": "bad line 3", "code": "invalid_file_format", "param": "training_file"}
    registry.transition_job("ftjob-1", JobStatus.FAILED, error=error)
    stored = registry.get_job("ftjob-1")
    assert (stored.status, stored.error, stored.result) == ("failed", error, None)


def test_a_cancel_landing_between_read_and_write_wins_over_a_late_success(
    registry: Registry, tenant_id: str, database_url: str
) -> None:
    """The CI failure of stop 28: a worker's "succeeded" read RUNNING, a cancel committed,
    then the worker's write landed on top. The write must notice the status moved."""
    if not database_url.startswith("sqlite"):
        pytest.skip("PostgreSQL's FOR UPDATE blocks the cancel; the threaded race covers it")
    registry.create_job(tenant_id, "fine_tune", {}, job_id="ftjob-1", status=JobStatus.RUNNING)
    other = Registry(Database(database_url))
    fired: list[str] = []

    def cancel_first(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.startswith("UPDATE jobs") and not fired:
            fired.append(statement)
            other.transition_job("ftjob-1", JobStatus.CANCELLED)

    event.listen(registry.db.engine, "before_cursor_execute", cancel_first)
    try:
        with pytest.raises(ConflictError, match="cancelled cannot become succeeded"):
            registry.transition_job("ftjob-1", JobStatus.SUCCEEDED, result={"x": 1})
    finally:
        event.remove(registry.db.engine, "before_cursor_execute", cancel_first)
        other.db.close()
    assert fired
    job = registry.get_job("ftjob-1")
    assert job.status == JobStatus.CANCELLED and job.result is None


def test_racing_transitions_have_one_winner(registry: Registry, tenant_id: str) -> None:
    for i in range(12):
        registry.create_job(
            tenant_id, "fine_tune", {}, job_id=f"ftjob-{i}", status=JobStatus.RUNNING
        )

    def move(job_id: str, target: JobStatus) -> JobStatus | None:
        try:
            registry.transition_job(job_id, target)
        except ConflictError:
            return None
        return target

    with ThreadPoolExecutor(4) as pool:
        for i in range(12):
            outcomes = list(
                pool.map(move, [f"ftjob-{i}"] * 2, [JobStatus.SUCCEEDED, JobStatus.CANCELLED])
            )
            winners = [o for o in outcomes if o is not None]
            assert len(winners) == 1, outcomes
            assert registry.get_job(f"ftjob-{i}").status == winners[0]


def test_transitioning_an_unknown_job_is_not_found(registry: Registry) -> None:
    with pytest.raises(NotFoundError):
        registry.transition_job("ftjob-missing", JobStatus.RUNNING)


@pytest.mark.parametrize("status", list(JobStatus))
def test_statuses_round_trip_through_protobuf(status: JobStatus) -> None:
    pb = status_to_pb(status)
    assert common_pb2.JobStatus.Name(pb) == f"JOB_STATUS_{status.name}"
    assert status_from_pb(pb) is status


def test_an_unknown_protobuf_status_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown job status"):
        status_from_pb(common_pb2.JOB_STATUS_UNSPECIFIED)
