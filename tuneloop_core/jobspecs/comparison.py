"""The bounds and defaults of a comparison job (`tuneloop.evaluator.v1.ComparisonJobSpec`),
defined once: the gateway's request model is built on them, and the evaluator checks the
spec it takes from the queue with them."""

from __future__ import annotations

from tuneloop.evaluator.v1 import evaluator_pb2
from tuneloop_core.errors import InvalidRequestError

MIN_MODELS, MAX_MODELS = 2, 8  # columns side by side
# Greedy by default, so the same comparison gives the same answers and what differs
# between columns is the model, not the dice.
DEFAULT_MAX_TOKENS, MAX_TOKENS = 256, 4096
DEFAULT_TEMPERATURE, MAX_TEMPERATURE = 0.0, 2
DEFAULT_TOP_P = 1.0  # in (0, 1]
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
    if not 1 <= spec.max_tokens <= MAX_TOKENS:
        raise InvalidRequestError(f"max_tokens must be 1–{MAX_TOKENS}", param="max_tokens")
    if not 0 <= spec.temperature <= MAX_TEMPERATURE:
        raise InvalidRequestError(f"temperature must be 0–{MAX_TEMPERATURE:g}", param="temperature")
    if not 0 < spec.top_p <= 1:
        raise InvalidRequestError("top_p must be in (0, 1]", param="top_p")
