"""The plain-words verdict from per-epoch curves."""

from __future__ import annotations

from services.trainer.verdict import judge, judge_preference


def history(train: list[float], valid: list[float] | None = None) -> list[dict[str, float]]:
    rows = []
    for i, loss in enumerate(train):
        row = {"epoch": float(i + 1), "train_loss": loss}
        if valid is not None:
            row["valid_loss"] = valid[i]
            row["valid_perplexity"] = 2.718281828 ** valid[i]
        rows.append(row)
    return rows


def test_overfitting_names_the_best_epoch() -> None:
    verdict = judge(history([2.0, 1.2, 0.8, 0.5, 0.3], [1.9, 1.5, 1.4, 1.6, 1.9]))
    assert (verdict.kind, verdict.best_epoch) == ("overfitting", 3)
    assert "epoch 3" in verdict.message and "Over-fitting" in verdict.message


def test_not_converged_when_still_falling() -> None:
    verdict = judge(history([2.0, 1.6, 1.3], [2.1, 1.8, 1.5]))
    assert verdict.kind == "not_converged" and verdict.best_epoch == 3
    assert "still falling" in verdict.message and "More epochs" in verdict.message


def test_converged_when_levelled_off() -> None:
    verdict = judge(history([2.0, 1.2, 1.0, 0.99], [1.9, 1.3, 1.20, 1.199]))
    assert (verdict.kind, verdict.best_epoch) == ("converged", 4)


def test_memorised_early_means_a_third_of_the_epochs() -> None:
    verdict = judge(history([0.04, 0.01, 0.005, 0.004, 0.003, 0.002], [0.02] * 6))
    assert verdict.kind == "overfitting" and verdict.best_epoch == 2
    assert "a third of the epochs" in verdict.message


def test_without_validation_uses_the_training_curve() -> None:
    assert judge(history([2.0, 1.0])).kind == "not_converged"
    assert judge(history([2.0, 1.0, 0.999])).kind == "converged"
    assert judge([]).kind == "not_converged"


def preference_history(
    margins: list[float], accuracy: list[float], validated: bool = True
) -> list[dict[str, float]]:
    prefix = "valid" if validated else "train"
    return [
        {
            "epoch": float(i + 1),
            "train_loss": 0.5,
            f"{prefix}_reward_margin": margin,
            f"{prefix}_reward_accuracy": share,
        }
        for i, (margin, share) in enumerate(zip(margins, accuracy, strict=True))
    ]


def test_dpo_margin_growing_every_epoch() -> None:
    verdict = judge_preference(preference_history([0.4, 1.1, 2.0], [0.7, 0.88, 0.94]))
    assert (verdict.kind, verdict.best_epoch) == ("converged", 3)
    assert verdict.message.startswith("The reward margin grew every epoch (0.40 → 2.00)")
    assert "prefers the preferred answers (accuracy 94%" in verdict.message


def test_dpo_margin_stopped_growing_names_that_epoch() -> None:
    verdict = judge_preference(preference_history([0.8, 2.0, 2.01, 2.02], [0.8, 0.9, 0.9, 0.9]))
    assert (verdict.kind, verdict.best_epoch) == ("converged", 2)
    assert "stopped growing at epoch 2" in verdict.message
    assert "that checkpoint is the one to use" in verdict.message


def test_dpo_margin_falling_after_its_peak_is_overfitting() -> None:
    verdict = judge_preference(preference_history([0.8, 2.0, 1.2], [0.8, 0.95, 0.7]))
    assert (verdict.kind, verdict.best_epoch) == ("overfitting", 2)
    assert "peaked at epoch 2" in verdict.message


def test_dpo_margin_that_did_not_grow() -> None:
    verdict = judge_preference(preference_history([0.01, 0.02], [0.5, 0.45]))
    assert verdict.kind == "not_converged"
    assert verdict.message.startswith("The margin did not grow")


def test_dpo_without_validation_judges_the_training_pairs_and_says_so() -> None:
    verdict = judge_preference(preference_history([3.0], [1.0], validated=False))
    assert verdict.kind == "converged"
    assert "reached 3.00 in one epoch" in verdict.message
    assert "on the training pairs, as there is no validation set" in verdict.message
    assert judge_preference([]).kind == "not_converged"
