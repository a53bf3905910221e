"""Every shipped recipe validates; broken recipes are refused with a reason."""

from __future__ import annotations

import pytest
import yaml
from pydantic import ValidationError

from services.trainer.recipes.config import RECIPES_DIR, Recipe, load_recipe, recipe_names
from tuneloop_core.errors import InvalidRequestError


def test_the_expected_recipes_ship() -> None:
    assert recipe_names() == ["demo", "dora", "full", "lora", "qlora"]


@pytest.mark.parametrize("name", recipe_names())
def test_shipped_recipe_is_valid_and_commented(name: str) -> None:
    recipe = load_recipe(name)
    assert recipe.name == name
    text = (RECIPES_DIR / f"{name}.yaml").read_text()
    assert text.startswith("#"), "each recipe opens with a line saying what it is for"
    knobs = [line for line in text.splitlines() if line.startswith("  ") and ":" in line]
    assert knobs, "recipes have settings"


def test_recipe_kinds() -> None:
    assert load_recipe("lora").adapter.kind == "lora"
    assert load_recipe("dora").adapter.kind == "dora"
    assert load_recipe("qlora").adapter.quantization == "4bit"
    assert load_recipe("full").adapter.kind == "full"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"version": 2}, "schema version"),
        ({"adapter": {"kind": "full", "quantization": "4bit"}}, "4-bit"),
        ({"surprise": 1}, "Extra inputs"),
        ({"optim": {"learning_rate": -1}}, "greater than 0"),
        ({"adapter": {"kind": "lora", "rank": 0}}, "greater than or equal to 1"),
    ],
)
def test_broken_recipes_are_refused(change: dict[str, object], message: str) -> None:
    raw = yaml.safe_load((RECIPES_DIR / "lora.yaml").read_text())
    for key, value in change.items():
        if isinstance(value, dict) and isinstance(raw.get(key), dict):
            raw[key] = {**raw[key], **value}
        else:
            raw[key] = value
    with pytest.raises(ValidationError, match=message):
        Recipe.model_validate(raw)


@pytest.mark.parametrize("name", ["nope", "../lora", "lora.yaml", ""])
def test_unknown_recipe_names(name: str) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        load_recipe(name)
    assert caught.value.param == "recipe"
