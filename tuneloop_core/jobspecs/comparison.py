"""The bounds and defaults of a comparison job (`tuneloop.evaluator.v1.ComparisonJobSpec`),
defined once: the gateway's request model is built on them, and the evaluator checks the
spec it takes from the queue with them."""

from __future__ import annotations

from tuneloop.evaluator.v1 import evaluator_pb2
from tuneloop_core.errors import InvalidRequestError
from tuneloop_core.jobspecs import sampling

MIN_MODELS, MAX_MODELS = 2, 8  # columns side by side
# Greedy by default (sampling.DEFAULT_TEMPERATURE), so the same comparison gives the same
# answers and what differs between columns is the model, not the dice.
DEFAULT_MAX_TOKENS = 256
MAX_SYSTEM_CHARS = 8000


def check(spec: evaluator_pb2.ComparisonJobSpec) -> None:
    """What the evaluator checks of a spec it took from the queue: a publish that bypassed
    the gateway fails the job with the error the API would have given."""
    if not MIN_MODELS <= len(spec.models) <= MAX_MODELS:
        raise InvalidRequestError(
            f"a comparison takes {MIN_MODELS}–{MAX_MODELS} models", param="models"
        )
    if not spec.questions:
        raise InvalidRequestError("the comparison has no questions", param="questions")
    sampling.check(spec.max_tokens, spec.temperature, spec.top_p)
