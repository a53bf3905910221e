"""The sampling bounds every job that generates answers shares (evaluations and
comparisons), as the API's chat completions take them."""

from __future__ import annotations

from tuneloop_core.errors import InvalidRequestError

MAX_TOKENS = 4096  # per answer
DEFAULT_TEMPERATURE, MAX_TEMPERATURE = 0.0, 2  # greedy by default: the same run, the same answers
DEFAULT_TOP_P = 1.0  # in (0, 1]


def check(max_tokens: int, temperature: float, top_p: float) -> None:
    """A spec's sampling, checked again where the job is taken."""
    if not 1 <= max_tokens <= MAX_TOKENS:
        raise InvalidRequestError(f"max_tokens must be 1–{MAX_TOKENS}", param="max_tokens")
    if not 0 <= temperature <= MAX_TEMPERATURE:
        raise InvalidRequestError(f"temperature must be 0–{MAX_TEMPERATURE}", param="temperature")
    if not 0 < top_p <= 1:
        raise InvalidRequestError("top_p must be in (0, 1]", param="top_p")
