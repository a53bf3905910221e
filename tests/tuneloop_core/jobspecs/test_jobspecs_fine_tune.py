"""The fine-tuning job's bounds, checked once: the same error for a request at the gateway
and for a spec a trainer takes from the queue."""

from __future__ import annotations

import pytest

from tuneloop.trainer.v1 import trainer_pb2
from tuneloop_core.errors import InvalidRequestError
from tuneloop_core.jobspecs import fine_tune

BAD = [
    ({"n_epochs": 0}, "hyperparameters.n_epochs", "n_epochs must be 'auto' or between 1 and 50"),
    ({"n_epochs": 51}, "hyperparameters.n_epochs", "n_epochs must be 'auto' or between 1 and 50"),
    (
        {"batch_size": 0},
        "hyperparameters.batch_size",
        "batch_size must be 'auto' or between 1 and 256",
    ),
    (
        {"batch_size": 257},
        "hyperparameters.batch_size",
        "batch_size must be 'auto' or between 1 and 256",
    ),
    (
        {"learning_rate_multiplier": 0.0},
        "hyperparameters.learning_rate_multiplier",
        "learning_rate_multiplier must be 'auto' or in (0, 10]",
    ),
    (
        {"learning_rate_multiplier": 10.5},
        "hyperparameters.learning_rate_multiplier",
        "learning_rate_multiplier must be 'auto' or in (0, 10]",
    ),
]


def test_none_is_auto_and_stays_unset() -> None:
    auto = fine_tune.hyperparameters()
    assert not any(auto.HasField(f) for f in ("n_epochs", "batch_size", "learning_rate_multiplier"))
    given = fine_tune.hyperparameters(n_epochs=50, batch_size=1, learning_rate_multiplier=10)
    assert (given.n_epochs, given.batch_size, given.learning_rate_multiplier) == (50, 1, 10.0)
    assert not fine_tune.hyperparameters(batch_size=4).HasField("n_epochs")


@pytest.mark.parametrize(("values", "param", "message"), BAD)
def test_a_request_out_of_bounds(values: dict[str, float], param: str, message: str) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        fine_tune.hyperparameters(**values)  # type: ignore[arg-type]
    assert (caught.value.param, caught.value.message) == (param, message)


def test_a_number_too_big_for_int32_is_a_bad_request_not_an_overflow() -> None:
    with pytest.raises(InvalidRequestError) as caught:
        fine_tune.hyperparameters(n_epochs=10**12)
    assert caught.value.param == "hyperparameters.n_epochs"


@pytest.mark.parametrize(("values", "param", "message"), BAD)
def test_a_queued_spec_out_of_bounds_fails_the_same_way(
    values: dict[str, float], param: str, message: str
) -> None:
    spec = trainer_pb2.FineTuneJobSpec(hyperparameters=trainer_pb2.Hyperparameters(**values))  # type: ignore[arg-type]
    with pytest.raises(InvalidRequestError) as caught:
        fine_tune.check(spec)
    assert (caught.value.param, caught.value.message) == (param, message)


def test_quantization_is_none_or_4bit() -> None:
    for ok in fine_tune.QUANTIZATIONS:
        fine_tune.check(
            trainer_pb2.FineTuneJobSpec(method=trainer_pb2.MethodSettings(quantization=ok))
        )
    bad = trainer_pb2.FineTuneJobSpec(method=trainer_pb2.MethodSettings(quantization="8bit"))
    with pytest.raises(InvalidRequestError) as caught:
        fine_tune.check(bad)
    assert caught.value.param == "method.quantization"
    assert caught.value.message == "quantization must be 'none' or '4bit'"
    fine_tune.check(trainer_pb2.FineTuneJobSpec())  # all "auto"
