"""A typed job spec in the registry's JSON column: the shape the API views read, and the
same message back for a resume."""

from __future__ import annotations

import pytest

from services.gateway.registry.records import (
    from_record,
    full_record,
    record,
    result_record,
    spec_view,
)
from tuneloop.evaluator.v1 import evaluator_pb2
from tuneloop.events.v1 import events_pb2
from tuneloop.trainer.v1 import trainer_pb2
from tuneloop_core.errors import InternalError

SPEC = trainer_pb2.FineTuneJobSpec(
    base_model="smollm2-135m",
    training_file="file-a",
    validation_file="file-v",
    tenant_name="acme",
    hyperparameters=trainer_pb2.Hyperparameters(n_epochs=3),
    method=trainer_pb2.MethodSettings(lora_rank=8, lora_targets=["q_proj"]),
    seed=42,
)


def test_the_record_uses_proto_field_names_and_leaves_auto_out() -> None:
    assert record(SPEC) == {
        "base_model": "smollm2-135m",
        "training_file": "file-a",
        "validation_file": "file-v",
        "tenant_name": "acme",
        "hyperparameters": {"n_epochs": 3},
        "method": {"lora_rank": 8, "lora_targets": ["q_proj"]},
        "seed": 42,  # int64: a number, not protobuf JSON's string
    }


def test_a_record_gives_back_the_message() -> None:
    back = from_record(record(SPEC), trainer_pb2.FineTuneJobSpec)
    assert back == SPEC
    assert not back.hyperparameters.HasField("batch_size")
    # A row with a field the message no longer has (a path, before files went by id).
    old = {**record(SPEC), "training_file_path": "artifacts/files/a.jsonl"}
    assert from_record(old, trainer_pb2.FineTuneJobSpec) == SPEC
    # A row written when int64 was stored as protobuf JSON's string reads the same.
    assert from_record({**record(SPEC), "seed": "42"}, trainer_pb2.FineTuneJobSpec) == SPEC


def test_an_unreadable_record_is_an_internal_error() -> None:
    with pytest.raises(InternalError, match="FineTuneJobSpec"):
        from_record({"seed": "many"}, trainer_pb2.FineTuneJobSpec)


def test_the_view_shows_every_field_but_auto() -> None:
    view = spec_view(record(SPEC), trainer_pb2.FineTuneJobSpec)
    assert view["validation_file"] == "file-v" and view["suffix"] == ""
    assert view["hyperparameters"] == {"n_epochs": 3}  # batch size etc. are "auto"
    assert view["method"] == {"lora_rank": 8, "lora_targets": ["q_proj"]}
    assert view["seed"] == 42


def test_a_result_shows_zero_counts_nested_int64_as_numbers_and_leaves_unset_optionals_out() -> (
    None
):
    result = trainer_pb2.ExportResult(
        model="m",
        gguf=trainer_pb2.GgufFile(filename="m.gguf", bytes=2**40, sha256="ab"),
        drift=trainer_pb2.DriftReport(prompts=0, examples=[trainer_pb2.DriftExample(prompt="p")]),
        timings={"total_s": 1.5},
    )
    view = full_record(result)
    assert view["gguf"] == {"filename": "m.gguf", "bytes": 2**40, "sha256": "ab"}
    assert view["drift"]["prompts"] == 0 and view["drift"]["flagged"] is False
    assert "advice" not in view["drift"] and "rouge_l_drift" not in view["drift"]
    assert view["drift"]["examples"] == [{"prompt": "p", "full": "", "quantized": ""}]
    assert view["timings"] == {"total_s": 1.5}
    assert "ollama" not in view and "pre_tokenizer_override" not in view
    assert view["files"] == [] and view["file_type"] == 0


def test_a_notes_free_form_data_is_kept_as_written() -> None:
    note = events_pb2.Note()
    note.data.update({"worker": "vm:1", "seed": "42", "nested": {"bytes": "7"}})
    assert record(note) == {"data": {"worker": "vm:1", "seed": "42", "nested": {"bytes": "7"}}}


def test_a_jobs_result_shows_unset_optionals_as_null_at_every_depth() -> None:
    result = evaluator_pb2.EvaluationResult(
        matrix=[
            evaluator_pb2.MatrixRow(model="base", is_base=True, metrics={"rouge-l": 5.8}),
            evaluator_pb2.MatrixRow(model="ft", epoch=2, judge_mean=7.5),
        ],
        best_model="ft",
    )
    view = result_record(result)
    base, tuned = view["matrix"]
    assert (base["epoch"], base["judge_mean"], base["metrics"]) == (None, None, {"rouge-l": 5.8})
    assert (tuned["epoch"], tuned["judge_mean"], tuned["metrics"]) == (2, 7.5, {})
    assert view["suggestions"] == [] and view["report_file"] == ""
    export = result_record(trainer_pb2.ExportResult(drift=trainer_pb2.DriftReport(prompts=3)))
    assert export["ollama"] is None and export["pre_tokenizer_override"] is None
    assert export["drift"]["advice"] is None and export["drift"]["prompts"] == 3
