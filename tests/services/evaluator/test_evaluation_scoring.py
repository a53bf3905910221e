"""Which scoring mode an evaluation uses, and that it says so: a predictions file in
LLaMA-Factory's format is scored the `llamafactory` way unless the spec names a mode, any
other file the `language_aware` way; the results JSON and the report name the mode."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from services.evaluator.evaluation.examples import load_predictions
from services.evaluator.evaluation.pipeline import evaluate
from services.evaluator.evaluation.report import render_report
from services.evaluator.evaluation.spec import EvaluationSpec, ModelEntry, from_pb, with_scoring
from services.evaluator.generation import GenerationSettings
from services.evaluator.metrics import DEFAULT_METRICS, metric_columns, score
from tuneloop.evaluator.v1 import evaluator_pb2
from tuneloop_core.errors import InvalidRequestError

ROWS = [  # (predict, label): Chinese and English, as a LLaMA-Factory run on a mixed set
    ("公文的主旨要簡單明瞭，辦法分項條列。", "公文的主旨應簡明扼要，說明與辦法分項條列。"),
    ("函是機關往來的公文。", "函是機關之間往來公文的主要類別。"),
    ("The quick brown fox jumped over the dog.", "The quick brown fox jumps over the lazy dog."),
]
PREDICTIONS = ModelEntry("predictions", "generated_predictions.jsonl")


def write_jsonl(path: Path, rows: list[dict[str, str]]) -> Path:
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n")
    return path


def predictions_spec(scoring: str = "auto") -> EvaluationSpec:
    return EvaluationSpec(
        models=[PREDICTIONS],
        file_id="file-x",
        predictions=True,
        metrics=[],
        generation=GenerationSettings(),
        scoring=scoring,
    )


async def no_progress(*_: Any) -> None:
    """Progress goes nowhere: these evaluations read a file and have no judge."""


def test_the_file_decides_the_mode_unless_the_spec_names_one(tmp_path: Path) -> None:
    llamafactory = write_jsonl(
        tmp_path / "generated_predictions.jsonl",
        [{"prompt": "q", "predict": p, "label": r} for p, r in ROWS],
    )
    ours = write_jsonl(tmp_path / "ours.jsonl", [{"prediction": "a", "reference": "b"}])
    mixed = write_jsonl(
        tmp_path / "mixed.jsonl",
        [{"predict": "a", "label": "b"}, {"prediction": "a", "reference": "b"}],
    )
    found = {path.name: load_predictions(path)[1] for path in (llamafactory, ours, mixed)}
    assert found == {"generated_predictions.jsonl": True, "ours.jsonl": False, "mixed.jsonl": False}
    assert with_scoring(predictions_spec(), True).scoring == "llamafactory"
    assert with_scoring(predictions_spec(), False).scoring == "language_aware"
    assert with_scoring(predictions_spec("language_aware"), True).scoring == "language_aware"
    assert with_scoring(predictions_spec("llamafactory"), False).scoring == "llamafactory"


def test_the_job_spec_carries_the_mode() -> None:
    spec = evaluator_pb2.EvaluationJobSpec(
        predictions=True, predictions_file="file-x", max_tokens=8, top_p=1.0, language="auto"
    )
    assert from_pb(spec).scoring == "auto"  # a job queued before the field had none
    spec.scoring = "language_aware"
    assert from_pb(spec).scoring == "language_aware"
    spec.scoring = "llama"
    with pytest.raises(InvalidRequestError) as caught:
        from_pb(spec)
    assert caught.value.param == "scoring"


@pytest.mark.parametrize(
    ("requested", "used"), [("auto", "llamafactory"), ("language_aware", "language_aware")]
)
async def test_results_and_report_say_which_mode_scored_them(
    tmp_path: Path, requested: str, used: str
) -> None:
    path = write_jsonl(
        tmp_path / "generated_predictions.jsonl",
        [{"prompt": "q", "predict": p, "label": r} for p, r in ROWS],
    )
    examples, llamafactory_file = load_predictions(path)
    spec = with_scoring(predictions_spec(requested), llamafactory_file)
    answers = {PREDICTIONS.name: [e.prediction or "" for e in examples]}
    results = await evaluate(None, "tenant", spec, examples, answers, [], no_progress)  # type: ignore[arg-type]

    assert results["scoring"] == used
    assert results["metrics"] == metric_columns(DEFAULT_METRICS, used)  # type: ignore[arg-type]
    expected = score(*zip(*ROWS, strict=True), scoring=used)  # type: ignore[arg-type, call-overload]
    [row] = results["matrix"]
    assert row["metrics"] == {name: r.corpus for name, r in expected.items()}
    third = results["examples"][2]["outputs"][PREDICTIONS.name]["scores"]
    assert third["bleu-4"] == expected["bleu-4"].per_example[2]
    assert ("bleu-4 (language-aware)" in third) is (used == "llamafactory")

    page = {
        **results,
        "id": "evaljob-x",
        "fine_tuning_job": None,
        "comparison": None,
        "votes": None,
        "dataset": {"examples": len(ROWS), "predictions_file": True},
        "generation": {"max_tokens": 8, "temperature": 0.0},
        "training": None,
    }
    html = render_report(page, spec.models)
    assert f'<p id="scoring">評分方式 <span class="en">Scoring</span>: <code>{used}</code>' in html
    assert ("<th>ROUGE-L (language-aware)</th>" in html) is (used == "llamafactory")
