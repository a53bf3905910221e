"""The training curves of the fine-tuning job an evaluation covers: the trainer's
`step_metrics.csv` (per-step loss, per-epoch validation loss), read as data."""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class TrainingCurves:
    steps: list[int] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    epochs: list[int] = field(default_factory=list)
    epoch_train_loss: list[float | None] = field(default_factory=list)
    epoch_valid_loss: list[float | None] = field(default_factory=list)

    def to_json(self) -> dict[str, object]:
        return {
            "steps": self.steps,
            "train_loss": self.train_loss,
            "epochs": self.epochs,
            "epoch_train_loss": self.epoch_train_loss,
            "epoch_valid_loss": self.epoch_valid_loss,
        }


def _float(value: str | None) -> float | None:
    try:
        return float(value) if value not in (None, "") else None
    except ValueError:
        return None


def read_curves(path: Path) -> TrainingCurves | None:
    """None when the file is missing (an evaluation of adapters made elsewhere)."""
    if not path.is_file():
        return None
    curves = TrainingCurves()
    with path.open(newline="") as handle:
        for row in csv.DictReader(handle):
            step, loss = _float(row.get("step")), _float(row.get("train_loss"))
            if step is not None and loss is not None:
                curves.steps.append(int(step))
                curves.train_loss.append(loss)
            epoch_train = _float(row.get("epoch_train_loss"))
            epoch_valid = _float(row.get("epoch_valid_loss"))
            if epoch_train is not None or epoch_valid is not None:
                curves.epochs.append(int(_float(row.get("epoch")) or len(curves.epochs) + 1))
                curves.epoch_train_loss.append(epoch_train)
                curves.epoch_valid_loss.append(epoch_valid)
    return curves
