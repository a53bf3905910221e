"""The bounds and defaults of a fine-tuning job (`tuneloop.trainer.v1.FineTuneJobSpec`),
defined once: the gateway checks a request with them before it queues the job, and the
trainer checks the spec it takes from the queue with them (a publish that bypassed the
gateway fails the job with the same error the API would have given)."""

from __future__ import annotations

from typing import Literal, get_args

from tuneloop.trainer.v1 import trainer_pb2
from tuneloop_core.errors import InvalidRequestError

N_EPOCHS_MIN, N_EPOCHS_MAX = 1, 50  # passes over the training data
BATCH_SIZE_MIN, BATCH_SIZE_MAX = 1, 256  # examples per optimiser step
LEARNING_RATE_MULTIPLIER_MAX = 10.0  # of the recipe's learning rate; must be above 0
DEFAULT_SEED = 42  # data order and initial adapter weights, when the request gives none
DEFAULT_RECIPE = "lora"  # when the request names none
Quantization = Literal["none", "4bit"]  # "4bit" = QLoRA through bitsandbytes
QUANTIZATIONS: tuple[str, ...] = get_args(Quantization)
MethodType = Literal["supervised", "dpo"]  # OpenAI's method types Tuneloop trains
METHOD_TYPES: tuple[str, ...] = get_args(MethodType)
BETA_MAX = 2.0  # DPO's beta, in (0, BETA_MAX]


def hyperparameters(
    n_epochs: int | None = None,
    batch_size: int | None = None,
    learning_rate_multiplier: float | None = None,
    beta: float | None = None,
) -> trainer_pb2.Hyperparameters:
    """The checked message; None is "auto" and leaves the field unset. Raises
    InvalidRequestError naming the parameter (checked before the int32 fields are set, so a
    huge number is a bad request rather than an overflow)."""
    if n_epochs is not None and not N_EPOCHS_MIN <= n_epochs <= N_EPOCHS_MAX:
        raise InvalidRequestError(
            f"n_epochs must be 'auto' or between {N_EPOCHS_MIN} and {N_EPOCHS_MAX}",
            param="hyperparameters.n_epochs",
        )
    if batch_size is not None and not BATCH_SIZE_MIN <= batch_size <= BATCH_SIZE_MAX:
        raise InvalidRequestError(
            f"batch_size must be 'auto' or between {BATCH_SIZE_MIN} and {BATCH_SIZE_MAX}",
            param="hyperparameters.batch_size",
        )
    if learning_rate_multiplier is not None and not (
        0 < learning_rate_multiplier <= LEARNING_RATE_MULTIPLIER_MAX
    ):
        raise InvalidRequestError(
            f"learning_rate_multiplier must be 'auto' or in (0, {LEARNING_RATE_MULTIPLIER_MAX:g}]",
            param="hyperparameters.learning_rate_multiplier",
        )
    if beta is not None and not 0 < beta <= BETA_MAX:
        raise InvalidRequestError(
            f"beta must be 'auto' or in (0, {BETA_MAX:g}]", param="hyperparameters.beta"
        )
    return trainer_pb2.Hyperparameters(
        n_epochs=n_epochs,
        batch_size=batch_size,
        learning_rate_multiplier=learning_rate_multiplier,
        beta=beta,
    )


def check(spec: trainer_pb2.FineTuneJobSpec) -> None:
    """What the trainer checks of a spec it took from the queue: the same bounds."""
    given = spec.hyperparameters
    hyperparameters(
        given.n_epochs if given.HasField("n_epochs") else None,
        given.batch_size if given.HasField("batch_size") else None,
        given.learning_rate_multiplier if given.HasField("learning_rate_multiplier") else None,
        given.beta if given.HasField("beta") else None,
    )
    if spec.method_type not in ("", *METHOD_TYPES):
        raise InvalidRequestError(
            f"method.type must be one of {', '.join(METHOD_TYPES)}", param="method.type"
        )
    if given.HasField("beta") and spec.method_type != "dpo":
        raise InvalidRequestError(
            "beta is a DPO hyper-parameter; use method.type 'dpo'", param="hyperparameters.beta"
        )
    if bool(spec.start_model) != bool(spec.start_adapter_path):
        raise InvalidRequestError(
            "a job starting from a fine-tuned model needs its adapter", param="model"
        )
    method = spec.method
    if method.HasField("quantization") and method.quantization not in QUANTIZATIONS:
        raise InvalidRequestError(
            f"quantization must be {' or '.join(repr(q) for q in QUANTIZATIONS)}",
            param="method.quantization",
        )
