"""The bounds of a batch (`tuneloop.gateway.v1.BatchJobSpec`, OpenAI's Batch API), defined
once: the gateway's request model is built on them, and the batch worker checks the spec it
takes from the queue with them."""

from __future__ import annotations

from tuneloop.gateway.v1 import batches_pb2
from tuneloop_core.errors import InvalidRequestError

# The endpoints a batch's lines may call, as OpenAI names them.
ENDPOINTS = ("/v1/chat/completions", "/v1/completions", "/v1/embeddings", "/v1/responses")
COMPLETION_WINDOWS = ("24h",)  # OpenAI's only window
COMPLETION_WINDOW_S = 24 * 3600  # a batch's expires_at is created_at plus this
# OpenAI's metadata bounds: pairs, characters per key, characters per value.
MAX_METADATA_PAIRS, MAX_METADATA_KEY, MAX_METADATA_VALUE = 16, 64, 512


def check_metadata(metadata: dict[str, str]) -> None:
    if len(metadata) > MAX_METADATA_PAIRS:
        raise InvalidRequestError(
            f"metadata holds at most {MAX_METADATA_PAIRS} pairs", param="metadata"
        )
    for key, value in metadata.items():
        if len(key) > MAX_METADATA_KEY or len(value) > MAX_METADATA_VALUE:
            raise InvalidRequestError(
                f"metadata keys are at most {MAX_METADATA_KEY} characters and values at most "
                f"{MAX_METADATA_VALUE}",
                param="metadata",
            )


def check(spec: batches_pb2.BatchJobSpec) -> None:
    """What the worker checks of a spec it took from the queue: a publish that bypassed
    the gateway fails the job with the error the API would have given."""
    if not spec.input_file_id:
        raise InvalidRequestError("the batch names no input file", param="input_file_id")
    if spec.endpoint not in ENDPOINTS:
        raise InvalidRequestError(
            f"endpoint must be one of {', '.join(ENDPOINTS)}", param="endpoint"
        )
    if spec.completion_window not in COMPLETION_WINDOWS:
        raise InvalidRequestError(
            f"completion_window must be one of {', '.join(COMPLETION_WINDOWS)}",
            param="completion_window",
        )
    check_metadata(dict(spec.metadata))
