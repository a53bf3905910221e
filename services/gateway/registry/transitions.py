"""The allowed job status transitions: the only place they are defined."""

from __future__ import annotations

from enum import StrEnum

from tuneloop.common.v1 import common_pb2
from tuneloop_core.errors import ConflictError


class JobStatus(StrEnum):
    """Status strings as the public API shows them (OpenAI's fine-tuning names)."""

    VALIDATING_FILES = "validating_files"
    QUEUED = "queued"
    RUNNING = "running"
    PAUSED = "paused"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


TERMINAL = frozenset({JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED})

# from → allowed targets. VALIDATING_FILES → RUNNING: the worker that validated the files
# starts at once; RUNNING → QUEUED is a worker handing a job back (shutdown); PAUSED →
# QUEUED is a resume.
ALLOWED: dict[JobStatus, frozenset[JobStatus]] = {
    JobStatus.VALIDATING_FILES: frozenset(
        {
            JobStatus.QUEUED,
            JobStatus.RUNNING,
            JobStatus.PAUSED,
            JobStatus.FAILED,
            JobStatus.CANCELLED,
        }
    ),
    JobStatus.QUEUED: frozenset(
        {JobStatus.RUNNING, JobStatus.PAUSED, JobStatus.FAILED, JobStatus.CANCELLED}
    ),
    JobStatus.RUNNING: frozenset(
        {
            JobStatus.SUCCEEDED,
            JobStatus.FAILED,
            JobStatus.CANCELLED,
            JobStatus.PAUSED,
            JobStatus.QUEUED,
        }
    ),
    JobStatus.PAUSED: frozenset({JobStatus.QUEUED, JobStatus.CANCELLED, JobStatus.FAILED}),
    JobStatus.SUCCEEDED: frozenset(),
    JobStatus.FAILED: frozenset(),
    JobStatus.CANCELLED: frozenset(),
}

_FROM_PB: dict[int, JobStatus] = {
    common_pb2.JOB_STATUS_VALIDATING_FILES: JobStatus.VALIDATING_FILES,
    common_pb2.JOB_STATUS_QUEUED: JobStatus.QUEUED,
    common_pb2.JOB_STATUS_RUNNING: JobStatus.RUNNING,
    common_pb2.JOB_STATUS_PAUSED: JobStatus.PAUSED,
    common_pb2.JOB_STATUS_SUCCEEDED: JobStatus.SUCCEEDED,
    common_pb2.JOB_STATUS_FAILED: JobStatus.FAILED,
    common_pb2.JOB_STATUS_CANCELLED: JobStatus.CANCELLED,
}
_TO_PB: dict[JobStatus, common_pb2.JobStatus.ValueType] = {
    status: common_pb2.JobStatus.ValueType(pb) for pb, status in _FROM_PB.items()
}


def status_from_pb(value: int) -> JobStatus:
    try:
        return _FROM_PB[value]
    except KeyError:
        raise ValueError(f"unknown job status {value}") from None


def status_to_pb(status: JobStatus) -> common_pb2.JobStatus.ValueType:
    return _TO_PB[status]


def check_transition(current: JobStatus, target: JobStatus) -> None:
    """Raise ConflictError unless `current → target` is allowed."""
    if target not in ALLOWED[current]:
        raise ConflictError(
            f"a job that is {current.value} cannot become {target.value}",
            code="invalid_status_transition",
        )
