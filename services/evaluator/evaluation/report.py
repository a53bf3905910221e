"""The evaluation report: one self-contained HTML page (plots inline as PNG data URIs)
rendered from the results JSON, with zh-TW and English labels."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jinja2

from services.evaluator.evaluation import plots
from services.evaluator.evaluation.spec import ModelEntry
from services.evaluator.evaluation.training import TrainingCurves
from services.evaluator.evaluation.verdict import metric_name

# Rows of per-example outputs in the HTML; the JSON results hold them all.
SHOWN_EXAMPLES = 50
_ENV = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).parent),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
)


def _plots(results: dict[str, Any], models: list[ModelEntry]) -> dict[str, str | None]:
    # Every key present (None: no such plot), since the template is rendered strictly.
    out: dict[str, str | None] = {"training": None, "epochs": None, "judge": None}
    training = results.get("training")
    if training and training["steps"]:
        out["training"] = plots.training_plot(TrainingCurves(**training))
    matrix = {row["model"]: row["metrics"] for row in results["matrix"]}
    epoch_rows = [m for m in models if m.epoch is not None]
    if results["metrics"] and epoch_rows:
        out["epochs"] = plots.epoch_plot(models, matrix)
    judge = results.get("judge")
    if judge:
        judged = [row for row in results["matrix"] if row["judge_mean"] is not None]
        if judged:
            out["judge"] = plots.judge_plot(
                [row["label"] for row in judged], [row["judge_mean"] for row in judged]
            )
    return out


def render_report(results: dict[str, Any], models: list[ModelEntry]) -> str:
    template = _ENV.get_template("report.html.j2")
    return template.render(
        r=results,
        plots=_plots(results, models),
        shown=SHOWN_EXAMPLES,
        headline=results.get("headline_metric"),
        metric_name=metric_name,
    )
