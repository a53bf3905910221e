"""Subject and consumer names: one per job kind, every one a valid NATS token."""

from __future__ import annotations

import pytest

from tuneloop.common.v1 import common_pb2
from tuneloop_core.bus import subjects

FINE_TUNE = common_pb2.JOB_KIND_FINE_TUNE
EVERY_KIND = [v for v in common_pb2.JobKind.values() if v != common_pb2.JOB_KIND_UNSPECIFIED]


@pytest.mark.parametrize("kind", EVERY_KIND, ids=common_pb2.JobKind.Name)
def test_every_job_kind_has_subjects_inside_its_stream(kind: int) -> None:
    token = subjects.kind_token(kind)
    assert subjects.KINDS_BY_TOKEN[token] == kind
    assert subjects.job_requested(kind) == f"jobs.{token}.requested"
    assert subjects.job_events(kind, "ftjob-abc") == f"events.{token}.ftjob-abc"
    assert subjects.job_requested(kind).startswith(subjects.JOBS_WILDCARD.rstrip(">"))
    assert subjects.job_events(kind, "x").startswith(subjects.EVENTS_WILDCARD.rstrip(">"))
    assert subjects.kind_events(kind) == f"events.{token}.*"  # every job of the kind
    # A durable name may not contain '.', '*', '>' or whitespace.
    durable = subjects.worker_durable(kind)
    assert not any(c in durable for c in ".*> \t")


def test_kind_tokens_are_distinct() -> None:
    assert len(set(subjects.KIND_TOKENS.values())) == len(subjects.KIND_TOKENS)
    assert len({subjects.worker_durable(k) for k in EVERY_KIND}) == len(EVERY_KIND)


@pytest.mark.parametrize("kind", [common_pb2.JOB_KIND_UNSPECIFIED, 999])
def test_a_kind_without_a_token_is_refused(kind: int) -> None:
    with pytest.raises(ValueError, match="no subject"):
        subjects.job_requested(kind)
    with pytest.raises(ValueError, match="no subject"):
        subjects.job_events(kind, "ftjob-abc")


@pytest.mark.parametrize("job_id", ["", "a.b", "a*", "a>", "a b", "a\tb", ">", "*"])
def test_job_events_refuses_ids_that_are_not_one_subject_token(job_id: str) -> None:
    with pytest.raises(ValueError, match="subject token"):
        subjects.job_events(FINE_TUNE, job_id)


def test_job_events_accepts_generated_ids() -> None:
    assert subjects.job_events(FINE_TUNE, "ftjob-AbC123_x") == "events.fine_tune.ftjob-AbC123_x"
