"""The plain-words verdict from per-epoch curves."""

from __future__ import annotations

from services.trainer.verdict import judge


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
