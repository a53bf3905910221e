"""SmolLM2-135M-Instruct (real weights) learns from 16 preference pairs, with the "auto"
hyper-parameters and the default recipe, to prefer a short answer to a long one: its greedy
answers to four prompts it was not trained on come out at least 30 % shorter (measured on
a quiet 2-core CPU: 1,853 → 70 characters, training 42-49 s, with seeds 42, 1 and 7)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from peft import PeftModel
from transformers import AutoModelForCausalLM, AutoTokenizer

from services.trainer import hparams
from services.trainer.dpo import DpoRecipe
from services.trainer.recipes.config import load_recipe
from services.trainer.run import RunSettings
from support.smollm2 import pulled_smollm2
from tests.services.trainer.dpo_support import Hooks
from tuneloop.trainer.v1 import trainer_pb2
from tuneloop_core.datasets.conversation import PreferencePair, Turn
from tuneloop_core.jobspecs.fine_tune import DEFAULT_RECIPE, DEFAULT_SEED

pytestmark = pytest.mark.slow
CITIES = ["Paris", "Tokyo", "Cairo", "Lima", "Oslo", "Rome", "Berlin", "Madrid", "Vienna",
          "Prague", "Dublin", "Lisbon", "Athens", "Warsaw", "Seoul", "Delhi"]  # fmt: skip
HELD_OUT = ["London", "Sydney", "Toronto", "Nairobi"]
LONG = (
    "{city} is a remarkable place with a long and fascinating history that stretches back "
    "many centuries. It is known for its architecture, its museums, its food, its music and "
    "its people, and visitors from all over the world come every year to walk its streets, "
    "admire its landmarks and enjoy its many festivals and neighbourhoods."
)
PAIRS = [
    PreferencePair((Turn("user", f"Tell me about {c}."),), f"{c} is a city.", LONG.format(city=c))
    for c in CITIES
]


def answer_lengths(model: Any, tokenizer: Any) -> list[int]:
    """Characters of the greedy answers (at most 96 tokens) to the held-out prompts."""
    lengths = []
    for city in HELD_OUT:
        inputs = tokenizer.apply_chat_template(
            [{"role": "user", "content": f"Tell me about {city}."}],
            add_generation_prompt=True,
            return_tensors="pt",
            return_dict=True,
        )
        with torch.inference_mode():
            out = model.generate(**inputs, max_new_tokens=96, do_sample=False)
        answer = tokenizer.decode(out[0, inputs["input_ids"].shape[1] :], skip_special_tokens=True)
        lengths.append(len(answer))
    return lengths


def test_dpo_teaches_smollm2_to_answer_shorter(tmp_path: Path) -> None:
    base = pulled_smollm2()
    recipe = load_recipe(DEFAULT_RECIPE)
    chosen = hparams.choose_dpo(
        trainer_pb2.Hyperparameters(),
        len(PAIRS),
        recipe.max_epochs,
        recipe.optim.batch_size,
        recipe.preference.sft_weight,
    )
    settings = RunSettings(
        recipe=recipe,
        base_path=base,
        output=tmp_path,
        n_epochs=chosen.n_epochs,
        batch_size=chosen.batch_size,
        learning_rate=recipe.optim.learning_rate * chosen.learning_rate_multiplier,
        seed=DEFAULT_SEED,
        max_seq_length=recipe.data.max_seq_length,
    )
    assert chosen.beta is not None
    hooks = Hooks()
    trainer = DpoRecipe(settings, PAIRS, [], hooks, chosen.beta)
    trainer.setup()
    assert trainer.train() == "finished"
    trainer.cleanup(keep_state=False)
    assert hooks.epochs[-1][1]["train_reward_accuracy"] == 1.0

    tokenizer = AutoTokenizer.from_pretrained(base)
    model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32)
    before = answer_lengths(model, tokenizer)
    tuned = PeftModel.from_pretrained(model, tmp_path / "final")
    after = answer_lengths(tuned, tokenizer)
    assert sum(after) <= 0.7 * sum(before), (before, after)
