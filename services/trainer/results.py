"""The job's result file: step and epoch metrics as CSV (OpenAI's `result_files`)."""

from __future__ import annotations

import csv
from pathlib import Path

from tuneloop_core import layout

COLUMNS = (
    "step",
    "epoch",
    "train_loss",
    "learning_rate",
    "grad_norm",
    "tokens_per_second",
    "train_token_accuracy",
    "epoch_train_loss",
    "epoch_valid_loss",
    "epoch_valid_perplexity",
    "epoch_valid_token_accuracy",
)


# DPO's: the loss is DPO's; rewards are β × the policy's log-ratio to the reference.
DPO_COLUMNS = (
    "step",
    "epoch",
    "train_loss",
    "learning_rate",
    "grad_norm",
    "tokens_per_second",
    "reward_margin",
    "reward_accuracy",
    "chosen_reward",
    "rejected_reward",
    "epoch_train_loss",
    "epoch_train_reward_margin",
    "epoch_train_reward_accuracy",
    "epoch_valid_loss",
    "epoch_valid_reward_margin",
    "epoch_valid_reward_accuracy",
)


def write_metrics_csv(
    output: Path, rows: list[dict[str, float]], columns: tuple[str, ...] = COLUMNS
) -> Path:
    """One line per step, plus one per epoch end with the epoch's validation metrics."""
    path = output / layout.STEP_METRICS
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: (int(v) if k == "step" else round(v, 6)) for k, v in row.items()})
    return path
