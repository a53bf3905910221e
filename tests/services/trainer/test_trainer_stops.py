"""A chat template whose answers end with no token the model stops at fails a fine-tune at
its start: the tuned model would never learn to stop (the same stops the export checks)."""

from __future__ import annotations

from pathlib import Path

import pytest
from transformers import AutoTokenizer

from services.trainer.data import unlearned_stop
from services.trainer.recipes.config import load_recipe
from services.trainer.run import RunSettings, SftRecipe
from services.trainer.stops import stop_ids
from support.tiny_model import build_tiny_model
from tuneloop_core.datasets.conversation import Role, Turn
from tuneloop_core.errors import InvalidRequestError

# The tiny model's template without its end-of-turn token: answers just end with a newline.
NO_END_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{{ message['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("stops") / "tiny")


def with_template(base: Path, template: str, target: Path) -> Path:
    tokenizer = AutoTokenizer.from_pretrained(base)
    tokenizer.chat_template = template
    build_tiny_model(target)
    tokenizer.save_pretrained(target)
    return target


def test_the_tiny_template_trains_its_end_token(tiny: Path) -> None:
    tokenizer = AutoTokenizer.from_pretrained(tiny)
    stops = stop_ids(tiny, tokenizer)
    assert tokenizer.convert_ids_to_tokens(sorted(stops)) == ["<|im_end|>"]
    assert unlearned_stop(tokenizer, stops) is None


def test_a_template_without_the_end_token_fails_the_fine_tune_at_start(
    tiny: Path, tmp_path: Path
) -> None:
    base = with_template(tiny, NO_END_TEMPLATE, tmp_path / "no-end")
    tokenizer = AutoTokenizer.from_pretrained(base)
    problem = unlearned_stop(tokenizer, stop_ids(base, tokenizer))
    assert problem is not None and "<|im_end|>" in problem and "never stop" in problem

    settings = RunSettings(
        recipe=load_recipe("lora"),
        base_path=base,
        output=tmp_path / "out",
        n_epochs=1,
        batch_size=1,
        learning_rate=1e-3,
        seed=0,
        max_seq_length=64,
    )
    conversations = [[Turn(Role.USER, "函是什麼？"), Turn(Role.ASSISTANT, "機關往來的公文。")]]
    recipe = SftRecipe(settings, conversations, conversations, hooks=None)  # type: ignore[arg-type]
    with pytest.raises(InvalidRequestError) as caught:
        recipe.setup()
    assert caught.value.code == "template_has_no_stop" and caught.value.param == "model"
    assert not (tmp_path / "out").exists()  # nothing was trained or written
