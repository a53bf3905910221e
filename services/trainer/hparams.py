"""Hyper-parameters chosen automatically from the dataset size, with the reason in words."""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

from tuneloop.trainer.v1 import trainer_pb2
from tuneloop_core.jobspecs.fine_tune import N_EPOCHS_MIN

# Rule of thumb (examples → epochs), interpolated on a log scale between the points.
EPOCH_POINTS = ((100, 15.0), (1_000, 10.0), (10_000, 2.0))
# "auto" picks at most this many epochs; a request may ask for up to N_EPOCHS_MAX.
AUTO_MAX_EPOCHS = 20


def epochs_for_dataset_size(n_examples: int) -> int:
    """100 examples → 15 epochs, 1,000 → 10, 10,000 → 2; log-linear between, clamped 1–20."""
    if n_examples <= 0:
        raise ValueError("n_examples must be positive")
    x = math.log10(n_examples)
    points = [(math.log10(n), e) for n, e in EPOCH_POINTS]
    if x <= points[0][0]:
        (x0, y0), (x1, y1) = points[0], points[1]
    elif x >= points[-1][0]:
        (x0, y0), (x1, y1) = points[-2], points[-1]
    else:
        (x0, y0), (x1, y1) = next(
            (a, b) for a, b in itertools.pairwise(points) if a[0] <= x <= b[0]
        )
    epochs = y0 + (y1 - y0) * (x - x0) / (x1 - x0)
    return int(min(AUTO_MAX_EPOCHS, max(N_EPOCHS_MIN, round(epochs))))


def batch_size_for_dataset_size(n_examples: int) -> int:
    """Small datasets take small steps (more updates per epoch): 1 per ~25 examples, 1–16."""
    return int(min(16, max(1, n_examples // 25)))


@dataclass(frozen=True)
class ChosenHyperparameters:
    n_epochs: int
    batch_size: int
    learning_rate_multiplier: float
    explanation: str


def choose(
    given: trainer_pb2.Hyperparameters,
    n_examples: int,
    max_epochs: int,
    recipe_batch_size: int | None = None,
) -> ChosenHyperparameters:
    """Fill in every hyper-parameter left unset ("auto") and say why, in one sentence each.
    The given ones were checked against the contract's bounds when the job was taken."""
    reasons = []
    if given.HasField("n_epochs"):
        epochs = given.n_epochs
    else:
        epochs = min(max_epochs, epochs_for_dataset_size(n_examples))
        reasons.append(
            f"{epochs} epochs for {n_examples} training examples "
            "(about 15 for 100 examples, 10 for 1,000, 2 for 10,000: small sets need more passes)"
        )
    if given.HasField("batch_size"):
        batch = given.batch_size
    elif recipe_batch_size is not None:
        batch = recipe_batch_size
        reasons.append(f"batch size {batch} (the recipe's)")
    else:
        batch = batch_size_for_dataset_size(n_examples)
        reasons.append(f"batch size {batch} (about one per 25 examples, between 1 and 16)")
    if given.HasField("learning_rate_multiplier"):
        multiplier = given.learning_rate_multiplier
    else:
        multiplier = 1.0
        reasons.append("the recipe's learning rate as is (multiplier 1.0)")
    explanation = "Chose " + "; ".join(reasons) + "." if reasons else "All hyper-parameters given."
    return ChosenHyperparameters(epochs, batch, multiplier, explanation)
