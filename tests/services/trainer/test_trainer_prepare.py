"""The trainer's edge: a taken job's typed spec, checked with the gateway's bounds."""

from __future__ import annotations

import pytest

from services.trainer.prepare import job_spec
from tuneloop.events.v1 import events_pb2
from tuneloop.trainer.v1 import trainer_pb2
from tuneloop_core.errors import InvalidRequestError


def test_the_typed_spec_is_read_as_is() -> None:
    spec = trainer_pb2.FineTuneJobSpec(
        base_model="m", hyperparameters=trainer_pb2.Hyperparameters(n_epochs=3)
    )
    assert job_spec(events_pb2.JobRequested(job_id="ftjob-1", fine_tune=spec)) == spec


def test_a_request_without_a_fine_tune_spec_fails_the_job() -> None:
    old = events_pb2.JobRequested(job_id="ftjob-1").SerializeToString()
    old += bytes([4 << 3 | 2, 0])  # queued with the JSON spec of field 4, now reserved
    untyped = events_pb2.JobRequested.FromString(old)
    for request in (untyped, events_pb2.JobRequested(job_id="ftjob-2")):
        with pytest.raises(InvalidRequestError) as caught:
            job_spec(request)
        assert caught.value.code == "invalid_job"


def test_a_spec_out_of_bounds_fails_as_the_api_would_have_refused_it() -> None:
    spec = trainer_pb2.FineTuneJobSpec(hyperparameters=trainer_pb2.Hyperparameters(n_epochs=1000))
    with pytest.raises(InvalidRequestError) as caught:
        job_spec(events_pb2.JobRequested(job_id="ftjob-1", fine_tune=spec))
    assert caught.value.param == "hyperparameters.n_epochs"
    assert caught.value.message == "n_epochs must be 'auto' or between 1 and 50"
