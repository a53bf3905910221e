"""A datagen job's typed spec from the gateway's request to the worker's spec: one
translation each way, the same bounds on both sides."""

from __future__ import annotations

import pytest

from services.datagen.generation.spec import from_pb
from services.gateway.datagen.protocol import CreateDatagenJobRequest
from tuneloop_core.errors import InvalidRequestError


def test_the_worker_reads_what_the_gateway_asked_for() -> None:
    request = CreateDatagenJobRequest.model_validate(
        {
            "file_ids": ["file-a", "file-b"],
            "teacher": {"model": "smollm2-135m", "max_tokens": 64},
            "language": "en",
            "chunking": {"size": 300, "overlap": 20, "unit": "tokens"},
            "max_chunks": 7,
            "scorer": "likelihood",
            "seed": 2**40,
        }
    )
    spec = from_pb(request.to_pb("sk-caller"))
    assert spec.file_ids == ["file-a", "file-b"] and spec.language == "en"
    assert (spec.teacher.model, spec.teacher.base_url) == ("smollm2-135m", None)
    assert spec.teacher.api_key == "sk-caller"  # the gateway teaches with the caller's key
    assert spec.teacher.max_tokens == 64 and spec.teacher.timeout_s == 120.0
    assert (spec.chunking.size, spec.chunking.overlap, spec.chunking.unit) == (300, 20, "tokens")
    assert (spec.max_chunks, spec.scorer, spec.seed) == (7, "likelihood", 2**40)
    defaults = CreateDatagenJobRequest.model_validate(
        {"file_ids": ["f"], "teacher": {"model": "m", "base_url": "https://x.test/v1"}}
    )
    spec = from_pb(defaults.to_pb("sk-caller"))
    assert spec.teacher.api_key is None  # an external teacher never gets the caller's key
    assert spec.max_chunks is None and spec.teacher.max_tokens is None  # "all", "endpoint's"
    assert (spec.phrasings_per_answer, spec.min_score, spec.mode) == (3, 3.0, "grounded")


def test_a_spec_out_of_bounds_fails_in_the_worker_too() -> None:
    request = CreateDatagenJobRequest.model_validate({"file_ids": ["f"], "teacher": {"model": "m"}})
    spec = request.to_pb("sk")
    spec.phrasings_per_answer = 0  # a publish that bypassed the gateway
    with pytest.raises(InvalidRequestError, match="phrasings_per_answer"):
        from_pb(spec)
