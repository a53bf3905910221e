"""The SFT recipe on a tiny model: it learns, saves a servable adapter per epoch, and a
run paused (or killed) and resumed ends with the same adapter as an uninterrupted one."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pytest
import torch
from peft import PeftModel
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM

from services.trainer import checkpoints
from services.trainer.recipes.config import load_recipe
from services.trainer.run import RunSettings, SftRecipe
from tuneloop_core.datasets.conversation import Turn

FACTS = [
    ("函是什麼？", "函是機關之間往來的公文。"),
    ("公告給誰看？", "公告是對公眾宣布事項。"),
    ("What is 速別?", "速別 says how urgent a document is."),
    ("簽由誰寫？", "簽由承辦人寫給長官。"),
    ("What is 正本?", "正本 goes to the main recipient."),
    ("副本給誰？", "副本給需要知道的機關。"),
]
CONVERSATIONS = [[Turn("user", q), Turn("assistant", a)] for q, a in FACTS]


@dataclass
class Hooks:
    pause_at_step: int | None = None
    steps: list[dict[str, float]] = field(default_factory=list)
    epochs: list[tuple[int, dict[str, float], Path]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    global_step: int = 0

    def on_step(
        self, progress: checkpoints.Progress, epoch: float, metrics: dict[str, float]
    ) -> None:
        self.global_step = progress.global_step
        self.steps.append(metrics)

    def on_epoch(self, epoch: int, metrics: dict[str, float], checkpoint: Path) -> None:
        self.epochs.append((epoch, metrics, checkpoint))

    def stop_requested(self) -> Literal["pause", "cancel"] | None:
        if self.pause_at_step is not None and self.global_step >= self.pause_at_step:
            return "pause"
        return None

    def warn(self, message: str) -> None:
        self.warnings.append(message)


def settings(base: Path, output: Path, epochs: int = 3) -> RunSettings:
    recipe = load_recipe("lora")
    return RunSettings(
        recipe=recipe,
        base_path=base,
        output=output,
        n_epochs=epochs,
        batch_size=2,
        learning_rate=5e-3,
        seed=7,
        max_seq_length=128,
    )


def run(base: Path, output: Path, hooks: Hooks, epochs: int = 3) -> str:
    recipe = SftRecipe(settings(base, output, epochs), CONVERSATIONS, CONVERSATIONS[:2], hooks)
    recipe.setup()
    outcome = recipe.train()
    recipe.cleanup(keep_state=outcome == "paused")
    return outcome


def adapter_weights(path: Path) -> dict[str, torch.Tensor]:
    return load_file(path / "adapter_model.safetensors")


def test_learns_and_saves_a_checkpoint_per_epoch(tiny_base: Path, tmp_path: Path) -> None:
    hooks = Hooks()
    assert run(tiny_base, tmp_path / "out", hooks) == "finished"
    assert [e[0] for e in hooks.epochs] == [1, 2, 3]
    assert len(hooks.steps) == 9  # 6 examples / batch 2 × 3 epochs
    first, last = hooks.epochs[0][1], hooks.epochs[-1][1]
    assert last["train_loss"] < first["train_loss"] * 0.8
    assert last["valid_loss"] < first["valid_loss"]
    for name in ("train_loss", "learning_rate", "grad_norm", "tokens_per_second"):
        assert name in hooks.steps[0]
    for epoch, _metrics, checkpoint in hooks.epochs:
        assert checkpoint == tmp_path / "out" / f"ckpt-{epoch}"
        assert (checkpoint / "adapter_config.json").is_file()
        assert (checkpoint / "tokenizer.json").is_file()
    assert (tmp_path / "out" / "final" / "adapter_model.safetensors").is_file()
    assert not (tmp_path / "out" / "state").exists(), "state is removed once finished"
    model = AutoModelForCausalLM.from_pretrained(tiny_base, dtype=torch.float32)
    tuned = PeftModel.from_pretrained(model, tmp_path / "out" / "final")
    assert tuned.active_adapter == "default"


def test_pause_and_resume_equals_an_uninterrupted_run(tiny_base: Path, tmp_path: Path) -> None:
    straight = Hooks()
    assert run(tiny_base, tmp_path / "straight", straight) == "finished"

    paused = Hooks(pause_at_step=4)  # mid-way through epoch 2
    assert run(tiny_base, tmp_path / "resumed", paused) == "paused"
    assert checkpoints.load_progress(tmp_path / "resumed") is not None
    resumed = Hooks()
    assert run(tiny_base, tmp_path / "resumed", resumed) == "finished"
    assert len(paused.steps) + len(resumed.steps) == len(straight.steps)

    expected = adapter_weights(tmp_path / "straight" / "final")
    actual = adapter_weights(tmp_path / "resumed" / "final")
    assert expected.keys() == actual.keys()
    for name, tensor in expected.items():
        assert torch.allclose(tensor, actual[name], atol=1e-5), name


class Crash(Exception):
    """Stands in for a worker killed mid-epoch: nothing after the last save survives."""


def test_resume_after_a_crash_restarts_from_the_last_epoch(tiny_base: Path, tmp_path: Path) -> None:
    straight = Hooks()
    run(tiny_base, tmp_path / "straight", straight)

    class CrashingHooks(Hooks):
        def on_step(
            self, progress: checkpoints.Progress, epoch: float, metrics: dict[str, float]
        ) -> None:
            super().on_step(progress, epoch, metrics)
            if progress.global_step == 5:  # epoch 2 of 3, after epoch 1's state was saved
                raise Crash

    with pytest.raises(Crash):
        run(tiny_base, tmp_path / "crashed", CrashingHooks())
    saved = checkpoints.load_progress(tmp_path / "crashed")
    assert saved is not None and (saved.epoch, saved.step_in_epoch) == (1, 0)
    again = Hooks()
    assert run(tiny_base, tmp_path / "crashed", again) == "finished"
    assert len(again.steps) == 6  # epochs 2 and 3 again: at most one epoch of work lost
    expected = adapter_weights(tmp_path / "straight" / "final")
    actual = adapter_weights(tmp_path / "crashed" / "final")
    for name, tensor in expected.items():
        assert torch.allclose(tensor, actual[name], atol=1e-5), name


@pytest.mark.parametrize("name", ["dora", "full"])
def test_other_methods_train(tiny_base: Path, tmp_path: Path, name: str) -> None:
    recipe = load_recipe(name)
    run_settings = RunSettings(recipe, tiny_base, tmp_path / name, 1, 3, 1e-3, 7, 128)
    hooks = Hooks()
    trainer = SftRecipe(run_settings, CONVERSATIONS, [], hooks)
    trainer.setup()
    assert trainer.train() == "finished"
    saved = tmp_path / name / "ckpt-1"
    expected = "config.json" if name == "full" else "adapter_config.json"
    assert (saved / expected).is_file()


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="QLoRA needs bitsandbytes on a GPU")
def test_qlora_trains_on_a_gpu(tiny_base: Path, tmp_path: Path) -> None:
    recipe = load_recipe("qlora")
    trainer = SftRecipe(
        RunSettings(recipe, tiny_base, tmp_path, 1, 3, 1e-3, 7, 128), CONVERSATIONS, [], Hooks()
    )
    trainer.setup()
    assert trainer.train() == "finished"
    assert (tmp_path / "ckpt-1" / "adapter_config.json").is_file()
