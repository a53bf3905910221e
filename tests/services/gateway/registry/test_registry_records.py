"""A typed job spec in the registry's JSON column: the shape the API views read, and the
same message back for a resume."""

from __future__ import annotations

import pytest

from services.gateway.registry.records import from_record, record, spec_view
from tuneloop.trainer.v1 import trainer_pb2
from tuneloop_core.errors import InternalError

SPEC = trainer_pb2.FineTuneJobSpec(
    base_model="smollm2-135m",
    training_file="file-a",
    training_file_path="artifacts/files/a.jsonl",
    tenant_name="acme",
    hyperparameters=trainer_pb2.Hyperparameters(n_epochs=3),
    method=trainer_pb2.MethodSettings(lora_rank=8, lora_targets=["q_proj"]),
    seed=42,
)


def test_the_record_uses_proto_field_names_and_leaves_auto_out() -> None:
    assert record(SPEC) == {
        "base_model": "smollm2-135m",
        "training_file": "file-a",
        "training_file_path": "artifacts/files/a.jsonl",
        "tenant_name": "acme",
        "hyperparameters": {"n_epochs": 3},
        "method": {"lora_rank": 8, "lora_targets": ["q_proj"]},
        "seed": "42",  # int64 in protobuf JSON
    }


def test_a_record_gives_back_the_message() -> None:
    back = from_record(record(SPEC), trainer_pb2.FineTuneJobSpec)
    assert back == SPEC
    assert not back.hyperparameters.HasField("batch_size")
    assert from_record({**record(SPEC), "gone": 1}, trainer_pb2.FineTuneJobSpec) == SPEC


def test_an_unreadable_record_is_an_internal_error() -> None:
    with pytest.raises(InternalError, match="FineTuneJobSpec"):
        from_record({"seed": "many"}, trainer_pb2.FineTuneJobSpec)


def test_the_view_shows_every_field_but_auto() -> None:
    view = spec_view(record(SPEC), trainer_pb2.FineTuneJobSpec)
    assert view["validation_file"] == "" and view["suffix"] == ""
    assert view["hyperparameters"] == {"n_epochs": 3}  # batch size etc. are "auto"
    assert view["method"] == {"lora_rank": 8, "lora_targets": ["q_proj"]}
    assert view["seed"] == 42  # int64: a number in the view, a string in the record
