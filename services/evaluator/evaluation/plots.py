"""The report's plots as inline PNG data URIs (matplotlib, Agg backend: no display).

Axis text is English only: matplotlib's bundled fonts have no CJK glyphs, and the HTML
around each plot carries the zh-TW label.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from services.evaluator.evaluation.spec import ModelEntry
from services.evaluator.evaluation.training import TrainingCurves
from services.evaluator.evaluation.verdict import metric_name


def _data_uri(figure: Figure) -> str:
    buffer = io.BytesIO()
    figure.tight_layout()
    figure.savefig(buffer, format="png", dpi=96)
    plt.close(figure)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def training_plot(curves: TrainingCurves) -> str:
    figure, axis = plt.subplots(figsize=(7, 3.6))
    axis.plot(curves.steps, curves.train_loss, label="train loss (per step)", color="#4c72b0")
    axis.set_xlabel("step")
    axis.set_ylabel("loss")
    if curves.epochs and any(v is not None for v in curves.epoch_valid_loss):
        twin = axis.twiny() if not curves.steps else None
        target = twin or axis
        if curves.steps:
            # Epoch ends drawn at their step positions: epoch k ends at k/n of the steps.
            per_epoch = max(curves.steps) / max(curves.epochs)
            xs: Sequence[float] = [e * per_epoch for e in curves.epochs]
        else:
            xs = curves.epochs
        valid = [(x, v) for x, v in zip(xs, curves.epoch_valid_loss, strict=True) if v is not None]
        target.plot(
            [x for x, _ in valid],
            [v for _, v in valid],
            "o-",
            color="#dd8452",
            label="validation loss (per epoch)",
        )
    axis.legend(loc="upper right")
    axis.grid(alpha=0.3)
    return _data_uri(figure)


def epoch_plot(models: Sequence[ModelEntry], matrix: Mapping[str, Mapping[str, float]]) -> str:
    """Each metric against the epoch; the base model drawn at epoch 0."""
    rows = [
        (0 if m.is_base else m.epoch, m.name) for m in models if m.is_base or m.epoch is not None
    ]
    rows.sort(key=lambda row: row[0] or 0)
    figure, axis = plt.subplots(figsize=(7, 3.6))
    metrics = list(next(iter(matrix.values()), {}))
    for metric in metrics:
        axis.plot(
            [e or 0 for e, _ in rows],
            [matrix[name][metric] for _, name in rows],
            "o-",
            label=metric_name(metric),
        )
    axis.set_xlabel("epoch (0 = base model)")
    axis.set_ylabel("score (0-100)")
    axis.set_xticks([e or 0 for e, _ in rows])
    axis.legend(loc="best", fontsize="small")
    axis.grid(alpha=0.3)
    return _data_uri(figure)


def judge_plot(labels: Sequence[str], means: Sequence[float]) -> str:
    figure, axis = plt.subplots(figsize=(7, 0.6 + 0.45 * len(labels)))
    axis.barh(list(range(len(labels))), means, color="#55a868")
    axis.set_yticks(
        list(range(len(labels))), [label.encode("ascii", "replace").decode() for label in labels]
    )
    axis.set_xlim(0, 10)
    axis.set_xlabel("mean judge score (1-10)")
    axis.invert_yaxis()
    return _data_uri(figure)
