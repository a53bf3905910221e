"""n_epochs/batch_size/learning_rate_multiplier (and DPO's beta) "auto": the rules of thumb
and their reasons.
The bounds of given values: tests/tuneloop_core/jobspecs."""

from __future__ import annotations

import pytest

from services.trainer.hparams import (
    DPO_AUTO_MAX_EPOCHS,
    DPO_BETA,
    DPO_LEARNING_RATE_MULTIPLIER,
    batch_size_for_dataset_size,
    choose,
    choose_dpo,
    epochs_for_dataset_size,
)
from tuneloop.trainer.v1 import trainer_pb2


@pytest.mark.parametrize(("n", "epochs"), [(100, 15), (1_000, 10), (10_000, 2)])
def test_rule_of_thumb_points(n: int, epochs: int) -> None:
    assert epochs_for_dataset_size(n) == epochs


def test_log_scale_interpolation_clamped_and_monotonic() -> None:
    assert epochs_for_dataset_size(316) in (12, 13)  # log-midpoint of 100 and 1,000 → 12.5
    assert epochs_for_dataset_size(3_162) == 6  # log-midpoint of 1,000 and 10,000 → 6
    assert epochs_for_dataset_size(1) == 20
    assert epochs_for_dataset_size(10_000_000) == 1
    sizes = [1, 5, 20, 50, 100, 200, 500, 1_000, 2_000, 5_000, 10_000, 50_000]
    values = [epochs_for_dataset_size(n) for n in sizes]
    assert values == sorted(values, reverse=True)
    assert all(1 <= v <= 20 for v in values)


def test_auto_choices_are_explained() -> None:
    chosen = choose(trainer_pb2.Hyperparameters(), 336, max_epochs=20)
    assert chosen.n_epochs == epochs_for_dataset_size(336)
    assert chosen.batch_size == batch_size_for_dataset_size(336) == 13
    assert chosen.learning_rate_multiplier == 1.0
    assert f"{chosen.n_epochs} epochs for 336 training examples" in chosen.explanation
    assert "batch size 13" in chosen.explanation


def test_recipe_caps_auto_epochs_and_given_values_win() -> None:
    assert choose(trainer_pb2.Hyperparameters(), 50, max_epochs=8).n_epochs == 8
    given = trainer_pb2.Hyperparameters(n_epochs=3, batch_size=4, learning_rate_multiplier=0.5)
    chosen = choose(given, 50, max_epochs=8)
    assert (chosen.n_epochs, chosen.batch_size, chosen.learning_rate_multiplier) == (3, 4, 0.5)
    assert chosen.explanation == "All hyper-parameters given."


def test_recipe_batch_size_fills_auto_but_a_given_batch_wins() -> None:
    chosen = choose(trainer_pb2.Hyperparameters(), 336, max_epochs=3, recipe_batch_size=8)
    assert (chosen.n_epochs, chosen.batch_size) == (3, 8)
    assert "batch size 8 (the recipe's)" in chosen.explanation
    given = trainer_pb2.Hyperparameters(batch_size=4)
    assert choose(given, 336, max_epochs=3, recipe_batch_size=8).batch_size == 4


def test_dpo_auto_choices_are_explained() -> None:
    chosen = choose_dpo(trainer_pb2.Hyperparameters(), 16, max_epochs=20)
    assert (chosen.n_epochs, chosen.batch_size) == (4, 1)
    assert chosen.beta == DPO_BETA == 0.1
    assert chosen.learning_rate_multiplier == DPO_LEARNING_RATE_MULTIPLIER
    assert "4 epochs for 16 preference pairs" in chosen.explanation
    assert "beta 0.1" in chosen.explanation and "learning-rate multiplier" in chosen.explanation
    assert "token loss" not in chosen.explanation
    with_sft = choose_dpo(trainer_pb2.Hyperparameters(), 16, max_epochs=20, sft_weight=1.0)
    assert "plus 1 × the preferred answers' token loss" in with_sft.explanation


def test_dpo_takes_fewer_epochs_than_sft() -> None:
    for n in (16, 100, 1_000, 10_000, 100_000):
        dpo = choose_dpo(trainer_pb2.Hyperparameters(), n, max_epochs=20).n_epochs
        assert 1 <= dpo <= DPO_AUTO_MAX_EPOCHS
        assert dpo < choose(trainer_pb2.Hyperparameters(), n, max_epochs=20).n_epochs or dpo == 1
    assert choose_dpo(trainer_pb2.Hyperparameters(), 100_000, max_epochs=20).n_epochs == 1


def test_dpo_given_values_win() -> None:
    given = trainer_pb2.Hyperparameters(
        n_epochs=2, batch_size=8, learning_rate_multiplier=0.3, beta=0.5
    )
    chosen = choose_dpo(given, 16, max_epochs=20)
    assert (chosen.n_epochs, chosen.batch_size, chosen.beta) == (2, 8, 0.5)
    assert chosen.learning_rate_multiplier == 0.3
    assert chosen.explanation == "All hyper-parameters given."
