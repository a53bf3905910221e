"""A plain-words verdict on a finished training run, from its per-epoch curves."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

Kind = Literal["converged", "not_converged", "overfitting"]
# A loss that still falls by more than this fraction per epoch at the end has not settled.
STILL_FALLING = 0.02
# A validation loss this much above its minimum at the end means over-fitting.
RISING = 0.03


@dataclass(frozen=True)
class Verdict:
    kind: Kind
    best_epoch: int
    message: str


def judge(history: Sequence[dict[str, float]]) -> Verdict:
    """`history`: one dict per epoch with "epoch", "train_loss" and, when validated,
    "valid_loss" and "valid_perplexity"."""
    if not history:
        return Verdict("not_converged", 0, "No epoch finished, so there is nothing to judge.")
    epochs = [int(h["epoch"]) for h in history]
    train = [h.get("train_loss", float("nan")) for h in history]
    valid = [h["valid_loss"] for h in history if "valid_loss" in h]
    last = len(history)
    if len(valid) == last:
        best = min(range(last), key=lambda i: valid[i])
        best_epoch = epochs[best]
        if best < last - 1 and valid[-1] > valid[best] * (1 + RISING):
            return Verdict(
                "overfitting",
                best_epoch,
                f"Over-fitting: validation loss was lowest at epoch {best_epoch} "
                f"({valid[best]:.3f}) and rose to {valid[-1]:.3f} by epoch {epochs[-1]}. "
                f"Use the epoch {best_epoch} checkpoint, or train about {best_epoch} epochs.",
            )
    else:
        best_epoch = epochs[-1]
    third = max(1, last // 3)
    perplexity = [h.get("valid_perplexity", float("inf")) for h in history]
    early = epochs[third - 1]
    if last >= 3 and train[third - 1] < 0.05 and perplexity[third - 1] < 1.1:
        return Verdict(
            "overfitting",
            early,
            f"Over-fitting: the model had memorised the data (loss {train[third - 1]:.3f}, "
            f"perplexity {perplexity[third - 1]:.2f}) by epoch {early} of {epochs[-1]}. "
            f"Use about a third of the epochs; the epoch {early} checkpoint is enough.",
        )
    curve = valid if len(valid) == last else train
    if last >= 2 and curve[-1] < curve[-2] * (1 - STILL_FALLING):
        which = "validation" if curve is valid else "training"
        return Verdict(
            "not_converged",
            epochs[-1],
            f"Not converged: the {which} loss was still falling at the last epoch "
            f"({curve[-2]:.3f} → {curve[-1]:.3f}). More epochs or more data should help; "
            f"for now use the last checkpoint (epoch {epochs[-1]}).",
        )
    return Verdict(
        "converged",
        best_epoch,
        f"Converged: the loss levelled off; the best checkpoint is epoch {best_epoch}.",
    )
