"""The export worker's reading of its typed spec: the gateway's checks, once more."""

from __future__ import annotations

import pytest

from services.trainer.export.spec import from_pb
from tuneloop.trainer.v1 import trainer_pb2
from tuneloop_core.errors import InvalidRequestError
from tuneloop_core.quantization import DEFAULT_QUANTIZATION


def test_a_spec_reads_with_its_defaults_and_canonical_quantization() -> None:
    spec = from_pb(trainer_pb2.ExportJobSpec(model="smollm2-135m", base_path="/models/smol"))
    assert (spec.base_model, spec.quantization, spec.adapter_path) == (
        "smollm2-135m",
        DEFAULT_QUANTIZATION,
        "",
    )
    named = trainer_pb2.ExportJobSpec(
        model="ft:smollm2-135m:acme:x:ftjob-1",
        base_model="smollm2-135m",
        base_path="/models/smol",
        adapter_path="artifacts/jobs/ftjob-1/ckpt",
        quantization="Q8_0",
        prompts=["公文是什麼？"],
        context_length=8192,
    )
    spec = from_pb(named)
    assert (spec.quantization, spec.prompts) == ("q8_0", ["公文是什麼？"])
    assert spec.context_length == 8192
    assert spec.file_stem == "smollm2-135m-acme-x-ftjob-1"


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"base_path": "/models/smol"}, "model"),
        ({"model": "smollm2-135m"}, "model"),
        ({"model": "m", "base_path": "/p", "quantization": "q3_wat"}, "quantization"),
    ],
)
def test_a_spec_that_bypassed_the_gateway_fails_as_the_api_would(
    fields: dict[str, str], param: str
) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        from_pb(trainer_pb2.ExportJobSpec(**fields))
    assert caught.value.param == param
