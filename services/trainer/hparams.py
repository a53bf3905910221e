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

# DPO (preference pairs → epochs). Each pair pushes two answers apart, and DPO over-fits when
# a pair comes round too often: one pass suits 10,000 pairs, two 1,000, three 100, and the
# smallest sets still need a few passes to move at all (at most DPO_AUTO_MAX_EPOCHS).
DPO_EPOCH_POINTS = ((100, 3.0), (1_000, 2.0), (10_000, 1.0))
DPO_AUTO_MAX_EPOCHS = 4
DPO_BETA = 0.1  # DPO's usual strength of the pull towards the reference model
# DPO on LoRA takes the recipe's learning rate × this. DPO is usually run at a fraction of
# SFT's rate: its gradient on a pair is the whole gradient of two answers' summed
# log-likelihoods, not a mean over their tokens, so it moves the adapter faster per step.
# Measured: SmolLM2-135M, 16 pairs preferring a short answer, the lora recipe (5e-4 × 0.25,
# sft_weight 1): greedy answers to 4 new prompts 96 % shorter, with seeds 42, 1 and 7.
DPO_LEARNING_RATE_MULTIPLIER = 0.25


def epochs_for_dataset_size(
    n_examples: int,
    points_by_size: tuple[tuple[int, float], ...] = EPOCH_POINTS,
    most: int = AUTO_MAX_EPOCHS,
) -> int:
    """100 examples → 15 epochs, 1,000 → 10, 10,000 → 2; log-linear between, clamped 1–20
    (or another rule's points and upper bound)."""
    if n_examples <= 0:
        raise ValueError("n_examples must be positive")
    x = math.log10(n_examples)
    points = [(math.log10(n), e) for n, e in points_by_size]
    if x <= points[0][0]:
        (x0, y0), (x1, y1) = points[0], points[1]
    elif x >= points[-1][0]:
        (x0, y0), (x1, y1) = points[-2], points[-1]
    else:
        (x0, y0), (x1, y1) = next(
            (a, b) for a, b in itertools.pairwise(points) if a[0] <= x <= b[0]
        )
    epochs = y0 + (y1 - y0) * (x - x0) / (x1 - x0)
    return int(min(most, max(N_EPOCHS_MIN, round(epochs))))


def batch_size_for_dataset_size(n_examples: int) -> int:
    """Small datasets take small steps (more updates per epoch): 1 per ~25 examples, 1–16."""
    return int(min(16, max(1, n_examples // 25)))


@dataclass(frozen=True)
class ChosenHyperparameters:
    n_epochs: int
    batch_size: int
    learning_rate_multiplier: float
    explanation: str
    beta: float | None = None  # DPO only


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


def choose_dpo(
    given: trainer_pb2.Hyperparameters,
    n_pairs: int,
    max_epochs: int,
    recipe_batch_size: int | None = None,
    sft_weight: float = 0.0,
) -> ChosenHyperparameters:
    """`choose` for DPO: fewer epochs than SFT, a lower learning rate, and beta; the
    explanation also says what the recipe's `sft_weight` adds to the loss."""
    reasons = []
    if given.HasField("n_epochs"):
        epochs = given.n_epochs
    else:
        epochs = min(
            max_epochs, epochs_for_dataset_size(n_pairs, DPO_EPOCH_POINTS, DPO_AUTO_MAX_EPOCHS)
        )
        reasons.append(
            f"{epochs} epochs for {n_pairs} preference pairs (about 3 for 100 pairs, 2 for "
            f"1,000, 1 for 10,000, at most {DPO_AUTO_MAX_EPOCHS}: DPO needs fewer passes than "
            "SFT and over-fits when a pair comes round too often)"
        )
    if given.HasField("batch_size"):
        batch = given.batch_size
    elif recipe_batch_size is not None:
        batch = recipe_batch_size
        reasons.append(f"batch size {batch} (pairs per step; the recipe's)")
    else:
        batch = batch_size_for_dataset_size(n_pairs)
        reasons.append(
            f"batch size {batch} (pairs per step; about one per 25 pairs, between 1 and 16)"
        )
    if given.HasField("learning_rate_multiplier"):
        multiplier = given.learning_rate_multiplier
    else:
        multiplier = DPO_LEARNING_RATE_MULTIPLIER
        reasons.append(
            f"learning-rate multiplier {multiplier:g} (DPO's gradient on a pair is that of two "
            "whole answers' log-likelihoods, so it runs at a fraction of SFT's rate)"
        )
    if given.HasField("beta"):
        beta = given.beta
    else:
        beta = DPO_BETA
        reasons.append(
            f"beta {beta:g} (the usual pull towards the starting model: lower lets the model "
            "move further from it, higher keeps it closer)"
        )
    explanation = "Chose " + "; ".join(reasons) + "." if reasons else "All hyper-parameters given."
    if sft_weight:
        explanation += (
            f" The loss is DPO's plus {sft_weight:g} × the preferred answers' token loss (the "
            "recipe's sft_weight), so the model learns to give them, not only to rank them."
        )
    return ChosenHyperparameters(epochs, batch, multiplier, explanation, beta)
