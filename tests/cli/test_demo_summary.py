"""The demo's verdict in plain words: the +20 ROUGE-L target, and whether tuning helped at
all (what decides the demo's exit code)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from tuneloop_cli import demo_steps as steps
from tuneloop_cli.demo_summary import TARGET_GAIN, Summary


def summary(tuned_rouge: float, scale: steps.DemoScale = steps.FULL) -> Summary:
    matrix: list[dict[str, Any]] = [
        {"model": "base", "is_base": True, "metrics": {"rouge-l": 5.8}},
        {"model": "ft:1", "epoch": 3, "is_base": False, "metrics": {"rouge-l": tuned_rouge}},
    ]
    evaluation = {"matrix": matrix, "best_model": "ft:1"}
    return Summary("http://x", "k", scale, {}, {}, evaluation, {}, {}, Path("r.html"))


@pytest.mark.parametrize(
    ("tuned", "helped", "says"),
    [
        (5.8 + TARGET_GAIN + 1, True, "(the target is +20)"),
        (24.8, True, "+19.0 ROUGE-L points better than the base model, short of the +20 target"),
        (5.0, False, "Tuning did not help (-0.8 ROUGE-L points against the base)"),
    ],
)
def test_the_verdict_names_the_gain_and_the_target(tuned: float, helped: bool, says: str) -> None:
    shown = summary(tuned)
    assert shown.helped() is helped
    assert says in shown.verdict()
    assert "epoch 3" in shown.verdict() or not helped


def test_a_short_ci_run_says_why_it_fell_short() -> None:
    scales = [s for s in vars(steps).values() if isinstance(s, steps.DemoScale)]
    ci = next(s for s in scales if s.name != "full")
    assert "trains on a slice of the sample" in summary(10.0, ci).verdict()


def test_the_matrix_says_how_bleu_and_rouge_were_scored() -> None:
    shown = summary(30.0)
    shown.evaluation["scoring"] = "language_aware"
    printed = io.StringIO()
    shown._print_matrix(Console(file=printed, width=120))
    assert "scoring: language_aware" in printed.getvalue()
