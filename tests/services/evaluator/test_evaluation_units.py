"""The evaluation's pure parts: domain validators, judge reply parsing, the verdict and
its suggestions, reading examples and predictions files, and the HTML report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from services.evaluator.evaluation.examples import load_dataset_examples, load_predictions
from services.evaluator.evaluation.judge import (
    RUBRIC_SCHEMA,
    parse_judgement,
    parse_score,
    parse_winner,
)
from services.evaluator.evaluation.report import render_report
from services.evaluator.evaluation.spec import ModelEntry
from services.evaluator.evaluation.validators import (
    gongwen_structure,
    numbers_in_reference,
    pass_rate,
    run_validators,
    statute_citations,
)
from services.evaluator.evaluation.verdict import decide
from tuneloop_core.errors import InvalidRequestError

GONGWEN = "受文者：臺北市政府\n主旨：請查照。\n說明：\n一、依據第5條辦理。\n辦法：請於3日內回復。"


def test_gongwen_structure_needs_sections_in_order_and_a_recipient() -> None:
    assert gongwen_structure(GONGWEN, GONGWEN) is True
    swapped = "受文者：市府\n說明：一、依法。\n主旨：請查照。"
    assert gongwen_structure(swapped, GONGWEN) is False
    assert gongwen_structure("主旨：請查照。\n說明：依法。", GONGWEN) is False  # no 受文者
    assert gongwen_structure("anything", "a reference without sections") is None


def test_statutes_and_numbers() -> None:
    assert statute_citations("依第 5 條辦理", "依第5條") is True
    assert statute_citations("依5條辦理", "依第5條") is False  # bare "5條"
    assert statute_citations("依第6條", "依第5條") is False
    assert statute_citations("依第6條", "no statute") is None
    assert numbers_in_reference("3日內", "請於3日內回復") is True
    assert numbers_in_reference("5日內", "請於3日內回復") is False
    assert numbers_in_reference("no numbers", "3") is None
    checks = run_validators(None, [GONGWEN, "x"], [GONGWEN, GONGWEN])
    assert checks["gongwen_structure"] == [True, False]
    assert pass_rate(checks["gongwen_structure"]) == 50.0
    with pytest.raises(InvalidRequestError) as caught:
        run_validators(["nope"], ["a"], ["b"])
    assert caught.value.param == "validators"


@pytest.mark.parametrize(
    ("reply", "score"),
    [
        ("Score: 7\nReason: mostly right", 7.0),
        ("**Score:** 9 — complete", 9.0),
        ("分數：8\n理由：正確", 8.0),
        ("I'd give it 6/10.", 6.0),
        ("Score: 42", None),
        ("no idea", None),
    ],
)
def test_judge_scores_are_parsed_robustly(reply: str, score: float | None) -> None:
    assert parse_score(reply).score == score


def test_judge_reason_and_winner() -> None:
    assert parse_score("Score: 7\nReason: mostly right").reason == "mostly right"
    assert parse_winner("Winner: B") == "B"
    assert parse_winner("winner: tie") == "tie"
    assert parse_winner("a") == "A"
    assert parse_winner("tie") == "tie"  # what the choice constraint lets the judge say
    assert parse_winner("both fine") is None


@pytest.mark.parametrize(
    ("reply", "score", "reason"),
    [
        ('{"score": 7, "reason": "mostly right"}', 7.0, "mostly right"),
        ('{"score":10,"reason":""}', 10.0, ""),
        ('{"score": 4, "reason": "cut off at max_tok', 4.0, "cut off at max_tok"),
        ('{"score": 0, "reason": "out of range"}', None, "out of range"),
        ("Score: 6\nReason: plain text still reads", 6.0, "plain text still reads"),
    ],
)
def test_judgements_are_json_with_a_text_fallback(
    reply: str, score: float | None, reason: str
) -> None:
    judged = parse_judgement(reply)
    assert (judged.score, judged.reason) == (score, reason)


def test_the_rubric_schema_compiles_for_constrained_decoding() -> None:
    xgrammar = pytest.importorskip("xgrammar")
    grammar = xgrammar.Grammar.from_json_schema(json.dumps(RUBRIC_SCHEMA), any_whitespace=False)
    assert "root" in str(grammar)


MODELS = [
    ModelEntry("base", "base", None, is_base=True),
    ModelEntry("ck1", "epoch 1", 1),
    ModelEntry("ck2", "epoch 2", 2),
    ModelEntry("ck3", "epoch 3", 3),
]


def test_verdict_picks_the_peak_epoch_and_says_how_much_it_beats_the_base() -> None:
    matrix = {
        "base": {"rouge-l": 10.0},
        "ck1": {"rouge-l": 20.0},
        "ck2": {"rouge-l": 31.0},
        "ck3": {"rouge-l": 25.0},
    }
    verdict = decide(MODELS, matrix, "rouge-l", {}, None, {})
    assert verdict.best_model == "ck2"
    assert "21.0 points above the base" in verdict.reason
    assert any("peaks at epoch 2" in s and "use epoch 2" in s for s in verdict.suggestions)


def test_verdict_warns_when_tuning_made_it_worse_or_nothing_ranks() -> None:
    matrix = {m.name: {"rouge-l": 30.0 if m.is_base else 10.0 + (m.epoch or 0)} for m in MODELS}
    verdict = decide(MODELS, matrix, "rouge-l", {}, None, {})
    assert verdict.best_model == "base"
    assert any("below the base" in s and "data quality" in s for s in verdict.suggestions)
    assert any("still rises" in s for s in verdict.suggestions)
    judged = decide(MODELS[:2], {"base": {}, "ck1": {}}, "rouge-l", {"base": 3, "ck1": 6}, 50, {})
    assert judged.best_model == "ck1" and "judge" in judged.reason
    assert any("stronger judge" in s for s in judged.suggestions)
    none = decide(MODELS[:2], {"base": {}, "ck1": {}}, "rouge-l", {"base": None}, None, {})
    assert none.best_model is None


def test_examples_from_datasets_questions_and_predictions(tmp_path: Path) -> None:
    alpaca = tmp_path / "alpaca.json"
    alpaca.write_text(json.dumps([{"instruction": "函是什麼？", "input": "", "output": "公文。"}]))
    examples, notes = load_dataset_examples(alpaca)
    assert examples[0].reference == "公文。" and examples[0].question == "函是什麼？"
    assert notes == []
    questions = tmp_path / "questions.jsonl"
    questions.write_text('{"messages": [{"role": "user", "content": "hi"}]}\n"plain"\n')
    examples, notes = load_dataset_examples(questions)
    assert [e.reference for e in examples] == [None, None] and "skipped" in notes[0]
    ours = tmp_path / "ours.jsonl"
    ours.write_text('{"prediction": "a", "reference": "b"}\n')
    llamafactory = tmp_path / "generated_predictions.jsonl"
    llamafactory.write_text('{"prompt": "q", "predict": "a", "label": "b"}\n')
    for path, llamafactory_format in ((ours, False), (llamafactory, True)):
        [pair], found = load_predictions(path)
        assert (pair.prediction, pair.reference) == ("a", "b")
        assert found is llamafactory_format
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"output": "a"}\n')
    with pytest.raises(InvalidRequestError) as caught:
        load_predictions(bad)
    assert caught.value.param == "predictions_file"


def test_report_is_self_contained_html_with_plots_and_matrix() -> None:
    models = MODELS[:3]
    rows = [
        {
            "model": m.name,
            "label": m.label,
            "epoch": m.epoch,
            "is_base": m.is_base,
            "metrics": {"rouge-l": 10.0 * (i + 1)},
            "judge_mean": 5.0,
            "validators": {},
        }
        for i, m in enumerate(models)
    ]
    results = {
        "id": "evaljob-x",
        "fine_tuning_job": "ftjob-x",
        "comparison": "cmpjob-x",
        "votes": {"ck1": 3},
        "dataset": {"examples": 1, "predictions_file": False},
        "generation": {"max_tokens": 8, "temperature": 0.0},
        "training": {
            "steps": [1, 2],
            "train_loss": [2.0, 1.5],
            "epochs": [1, 2],
            "epoch_train_loss": [1.8, 1.4],
            "epoch_valid_loss": [1.9, 1.6],
        },
        "metrics": ["rouge-l"],
        "headline_metric": "rouge-l",
        "matrix": rows,
        "best_model": "ck2",
        "verdict": "ck2 is best <script>",
        "suggestions": ["use epoch 2"],
        "notes": [],
        "validators": {},
        "judge": {
            "model": "base",
            "parse_rate": 100.0,
            "pairwise": {
                "first_model": "base",
                "second_model": "ck2",
                "wins": {"base": 0, "ck2": 1, "tie": 0, "unparsed": 0},
            },
        },
        "examples": [
            {
                "index": 0,
                "question": "q",
                "reference": "r",
                "pairwise_winner": "ck2",
                "outputs": {
                    m.name: {"prediction": "p", "scores": {"rouge-l": 1.0}, "judge_score": 5.0}
                    for m in models
                },
            }
        ],
    }
    html = render_report(results, models)
    assert html.count("data:image/png;base64,") == 3  # training, per epoch, judge
    assert 'id="matrix"' in html and "指標矩陣" in html and "Metric matrix" in html
    assert "&lt;script&gt;" in html  # model output and text are escaped
    assert 'id="votes"' in html and "http" not in html.replace("http-equiv", "")
