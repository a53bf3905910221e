"""The DPO recipe on a tiny model: the margin grows, a servable adapter per epoch (without
the reference), pause/resume and resume after a crash end with the uninterrupted run's
adapter, and a run from a fine-tuned model's adapter is judged against that adapter."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from peft import PeftModel
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM

from services.trainer import checkpoints
from services.trainer.dpo import DpoRecipe
from services.trainer.recipes.config import load_recipe
from services.trainer.run import RunSettings, SftRecipe
from support.tiny_model import build_tiny_adapter
from tests.services.trainer.dpo_support import PAIRS, Crash, Hooks
from tuneloop_core.datasets.conversation import Turn
from tuneloop_core.errors import InvalidRequestError

STEP_METRICS = (
    "train_loss",
    "reward_margin",
    "reward_accuracy",
    "chosen_reward",
    "rejected_reward",
    "learning_rate",
    "grad_norm",
    "tokens_per_second",
)


def settings(
    base: Path, output: Path, start: Path | None = None, recipe: str = "lora"
) -> RunSettings:
    return RunSettings(
        recipe=load_recipe(recipe),
        base_path=base,
        output=output,
        n_epochs=3,
        batch_size=2,
        learning_rate=2e-3,
        seed=7,
        max_seq_length=128,
        start_adapter=start,
    )


def run(base: Path, output: Path, hooks: Hooks, start: Path | None = None) -> str:
    recipe = DpoRecipe(settings(base, output, start), PAIRS, PAIRS[:2], hooks, beta=0.1)
    recipe.setup()
    outcome = recipe.train()
    recipe.cleanup(keep_state=outcome == "paused")
    return outcome


def adapter_weights(path: Path) -> dict[str, torch.Tensor]:
    return load_file(path / "adapter_model.safetensors")


def assert_same_adapter(expected_dir: Path, actual_dir: Path) -> None:
    expected, actual = adapter_weights(expected_dir), adapter_weights(actual_dir)
    assert expected.keys() == actual.keys()
    for name, tensor in expected.items():
        assert torch.allclose(tensor, actual[name], atol=1e-5), name


@pytest.fixture(scope="module")
def start_adapter(tiny_base: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fine-tuned model's adapter (random non-zero LoRA weights, rank 8)."""
    return build_tiny_adapter(tiny_base, tmp_path_factory.mktemp("dpo-start") / "adapter")


def test_the_margin_grows_and_each_epoch_is_a_servable_adapter(
    tiny_base: Path, tmp_path: Path
) -> None:
    hooks = Hooks()
    assert run(tiny_base, tmp_path / "out", hooks) == "finished"
    assert [e[0] for e in hooks.epochs] == [1, 2, 3]
    assert len(hooks.steps) == 9  # 6 pairs / 2 per step × 3 epochs
    assert all(set(STEP_METRICS) <= step.keys() for step in hooks.steps)
    first = hooks.steps[0]  # a fresh adapter is the reference: nothing to prefer yet
    assert first["reward_margin"] == pytest.approx(0.0, abs=1e-6)
    # log 2 (the sigmoid loss at margin 0) + the recipe's SFT term on the preferred answers
    assert first["train_loss"] > math.log(2) + 1.0
    epochs = [metrics for _, metrics, _ in hooks.epochs]
    for metrics in epochs:
        assert {"train_reward_margin", "train_reward_accuracy", "valid_loss"} <= metrics.keys()
        assert {"valid_reward_margin", "valid_reward_accuracy"} <= metrics.keys()
    assert epochs[-1]["valid_reward_margin"] > epochs[0]["valid_reward_margin"] > 0
    assert epochs[-1]["valid_reward_accuracy"] == 1.0
    assert epochs[-1]["train_loss"] < epochs[0]["train_loss"]
    for epoch, _metrics, checkpoint in hooks.epochs:
        assert checkpoint == tmp_path / "out" / f"ckpt-{epoch}"
        assert (checkpoint / "adapter_config.json").is_file()
        assert (checkpoint / "tokenizer.json").is_file()
    assert not (tmp_path / "out" / "state").exists(), "state is removed once finished"
    model = AutoModelForCausalLM.from_pretrained(tiny_base, dtype=torch.float32)
    tuned = PeftModel.from_pretrained(model, tmp_path / "out" / "final")
    assert list(tuned.peft_config) == ["default"]


def test_pause_and_resume_equals_an_uninterrupted_run(tiny_base: Path, tmp_path: Path) -> None:
    straight = Hooks()
    assert run(tiny_base, tmp_path / "straight", straight) == "finished"

    paused = Hooks(pause_at_step=4)  # mid-way through epoch 2
    assert run(tiny_base, tmp_path / "resumed", paused) == "paused"
    resumed = Hooks()
    recipe = DpoRecipe(
        settings(tiny_base, tmp_path / "resumed"), PAIRS, PAIRS[:2], resumed, beta=0.1
    )
    recipe.setup()
    # The reference log-probs came back with the state: none is computed again.
    assert not torch.isnan(recipe.reference["train"]).any()
    assert not torch.isnan(recipe.reference["validation"]).any()
    assert recipe.train() == "finished"
    recipe.cleanup(keep_state=False)
    assert len(paused.steps) + len(resumed.steps) == len(straight.steps)
    for mine, expected in zip(paused.steps + resumed.steps, straight.steps, strict=True):
        assert mine["reward_margin"] == pytest.approx(expected["reward_margin"], abs=1e-4)
    assert_same_adapter(tmp_path / "straight" / "final", tmp_path / "resumed" / "final")


def test_resume_after_a_crash_restarts_from_the_last_epoch(tiny_base: Path, tmp_path: Path) -> None:
    straight = Hooks()
    run(tiny_base, tmp_path / "straight", straight)
    with pytest.raises(Crash):
        run(tiny_base, tmp_path / "crashed", Hooks(crash_at_step=5))  # in epoch 2 of 3
    saved = checkpoints.load_progress(tmp_path / "crashed")
    assert saved is not None and (saved.epoch, saved.step_in_epoch) == (1, 0)
    again = Hooks()
    assert run(tiny_base, tmp_path / "crashed", again) == "finished"
    assert len(again.steps) == 6  # epochs 2 and 3 again: at most one epoch of work lost
    assert_same_adapter(tmp_path / "straight" / "final", tmp_path / "crashed" / "final")


def test_from_a_fine_tuned_adapter_the_reference_is_that_adapter(
    tiny_base: Path, start_adapter: Path, tmp_path: Path
) -> None:
    hooks = Hooks()
    recipe = DpoRecipe(
        settings(tiny_base, tmp_path / "out", start_adapter), PAIRS, [], hooks, beta=0.1
    )
    recipe.setup()
    assert set(recipe.model.peft_config) == {"default", "reference"}
    trainable = {n for n, p in recipe.model.named_parameters() if p.requires_grad}
    assert trainable and all(".default." in n for n in trainable)
    assert recipe.train() == "finished"
    recipe.cleanup(keep_state=False)
    # The policy starts as the reference (the starting adapter, not the base): no margin.
    assert hooks.steps[0]["reward_margin"] == pytest.approx(0.0, abs=1e-6)
    assert hooks.steps[-1]["reward_margin"] > 0.1
    # The saved adapter continues the starting one (its rank 8, not the recipe's 16),
    # moved by training, and carries no copy of the reference.
    final = tmp_path / "out" / "final"
    assert not (final / "reference").exists()
    start, tuned = adapter_weights(start_adapter), adapter_weights(final)
    assert start.keys() == tuned.keys()
    name = next(iter(start))
    assert tuned[name].shape == start[name].shape
    assert any(not torch.allclose(start[k], tuned[k]) for k in start)


def test_sft_continues_a_fine_tuned_adapter(
    tiny_base: Path, start_adapter: Path, tmp_path: Path
) -> None:
    conversations = [[*p.prompt, Turn("assistant", p.chosen)] for p in PAIRS]
    recipe = SftRecipe(
        settings(tiny_base, tmp_path / "sft", start_adapter), conversations, [], Hooks()
    )
    recipe.setup()
    assert recipe.train() == "finished"
    start, tuned = adapter_weights(start_adapter), adapter_weights(tmp_path / "sft" / "final")
    assert start.keys() == tuned.keys()
    assert any(not torch.allclose(start[k], tuned[k]) for k in start)


def test_the_full_recipe_is_refused(tiny_base: Path, tmp_path: Path) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        DpoRecipe(settings(tiny_base, tmp_path, recipe="full"), PAIRS, [], Hooks(), beta=0.1)
    assert caught.value.param == "recipe"
