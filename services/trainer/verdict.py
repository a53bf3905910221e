"""A plain-words verdict on a finished training run, from its per-epoch curves."""

from __future__ import annotations

import itertools
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


# A reward margin (β × log-ratio) that grows by less than this between epochs, and by less
# than this share of itself, has stopped growing.
MARGIN_STEP = 0.05
MARGIN_SHARE = 0.03
# From this share of pairs up, the preferred answers are reliably preferred.
GOOD_ACCURACY = 0.8


def _grew(before: float, after: float) -> bool:
    return after - before > max(MARGIN_STEP, MARGIN_SHARE * abs(before))


def judge_preference(history: Sequence[dict[str, float]]) -> Verdict:
    """A DPO run's verdict from its reward margins: `history` has one dict per epoch with
    "epoch", "train_reward_margin" and "train_reward_accuracy" and, when validated,
    "valid_reward_margin" and "valid_reward_accuracy" (which are then the ones judged)."""
    if not history:
        return Verdict("not_converged", 0, "No epoch finished, so there is nothing to judge.")
    validated = all("valid_reward_margin" in h for h in history)
    prefix = "valid" if validated else "train"
    where = (
        "on the validation pairs"
        if validated
        else "on the training pairs, as there is no validation set"
    )
    epochs = [int(h["epoch"]) for h in history]
    margins = [h.get(f"{prefix}_reward_margin", 0.0) for h in history]
    accuracy = [h.get(f"{prefix}_reward_accuracy", 0.0) for h in history]
    last = len(history) - 1
    if margins[-1] <= MARGIN_STEP or accuracy[-1] <= 0.5:
        return Verdict(
            "not_converged",
            epochs[-1],
            f"The margin did not grow: after {epochs[-1]} epochs the preferred answers score "
            f"{margins[-1]:.2f} above the others and are preferred in {accuracy[-1]:.0%} of "
            f"the pairs, {where}. Train longer or with a higher learning rate, and check that "
            "the preferred and non-preferred answers differ in what you want taught.",
        )
    # The first epoch after which the margin never grew again.
    settled = next(
        i for i in range(last + 1) if not any(_grew(margins[i], m) for m in margins[i + 1 :])
    )
    peak = max(range(last + 1), key=lambda i: margins[i])
    if settled == last:
        kind: Kind = "converged" if accuracy[-1] >= GOOD_ACCURACY else "not_converged"
        if last == 0:
            trend = f"reached {margins[0]:.2f} in one epoch"
        elif all(_grew(a, b) for a, b in itertools.pairwise(margins)):
            trend = f"grew every epoch ({margins[0]:.2f} → {margins[-1]:.2f})"
        else:
            trend = f"was still growing at the last epoch ({margins[-2]:.2f} → {margins[-1]:.2f})"
        advice = "" if kind == "converged" else " More epochs should raise that accuracy."
        return Verdict(
            kind,
            epochs[-1],
            f"The reward margin {trend}: the model now prefers the preferred answers "
            f"(accuracy {accuracy[-1]:.0%} {where}).{advice}",
        )
    if _grew(margins[-1], margins[peak]):
        return Verdict(
            "overfitting",
            epochs[peak],
            f"The reward margin peaked at epoch {epochs[peak]} ({margins[peak]:.2f}, accuracy "
            f"{accuracy[peak]:.0%}) and fell to {margins[-1]:.2f} by epoch {epochs[-1]}, "
            f"{where}: the epoch {epochs[peak]} checkpoint is the one to use, or train about "
            f"{epochs[peak]} epochs.",
        )
    return Verdict(
        "converged",
        epochs[settled],
        f"The reward margin stopped growing at epoch {epochs[settled]} ({margins[settled]:.2f}, "
        f"accuracy {accuracy[settled]:.0%} {where}): that checkpoint is the one to use; "
        "later epochs added little.",
    )
