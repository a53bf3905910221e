"""The schema of a training recipe (versioned YAML), validated when loaded."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from tuneloop_core.errors import InvalidRequestError

RECIPES_DIR = Path(__file__).resolve().parent
SCHEMA_VERSION = 1


class AdapterConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["lora", "dora", "full"] = "lora"
    rank: int = Field(16, ge=1, le=512)
    alpha: int = Field(32, ge=1)
    dropout: float = Field(0.0, ge=0, lt=1)
    targets: list[str] = Field(default_factory=list)  # empty = every linear layer
    quantization: Literal["none", "4bit"] = "none"


class OptimConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    learning_rate: float = Field(gt=0)
    weight_decay: float = Field(0.0, ge=0)
    warmup_ratio: float = Field(0.05, ge=0, lt=1)
    max_grad_norm: float = Field(1.0, gt=0)
    schedule: Literal["cosine", "linear", "constant"] = "cosine"
    # Batch size a job asking for "auto" gets; None: the rule of thumb for its dataset size.
    batch_size: int | None = Field(None, ge=1, le=256)


class DataConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    max_seq_length: int = Field(1024, ge=16)
    packing: bool = True
    validation_split: float = Field(0.1, ge=0, lt=0.5)
    min_examples_for_split: int = Field(20, ge=2)


class PreferenceConfig(BaseModel):
    """How a DPO job (method "dpo") trains with the recipe."""

    model_config = ConfigDict(extra="forbid")

    # Weight of the preferred answers' mean token NLL added to the DPO loss (RPO; TRL's
    # loss_type ["sigmoid", "sft"], LLaMA-Factory's pref_ftx); 0 is DPO's loss alone.
    sft_weight: float = Field(1.0, ge=0, le=10)


class Recipe(BaseModel):
    """One training method with its defaults. The lifecycle is fixed:
    setup → train (an epoch at a time) → save_checkpoint (each epoch) → cleanup."""

    model_config = ConfigDict(extra="forbid")

    version: int
    name: str
    description: str
    adapter: AdapterConfig
    optim: OptimConfig
    data: DataConfig
    preference: PreferenceConfig = Field(default_factory=PreferenceConfig)
    dtype: Literal["auto", "float32", "bfloat16"] = "auto"
    max_epochs: int = Field(20, ge=1, le=50)
    eval_generation_prompts: int = Field(0, ge=0)

    @model_validator(mode="after")
    def _check(self) -> Recipe:
        if self.version != SCHEMA_VERSION:
            raise ValueError(f"recipe schema version {self.version}; expected {SCHEMA_VERSION}")
        if self.adapter.quantization == "4bit" and self.adapter.kind == "full":
            raise ValueError("4-bit quantisation needs an adapter (QLoRA), not full fine-tuning")
        return self


def recipe_names() -> list[str]:
    return sorted(p.stem for p in RECIPES_DIR.glob("*.yaml"))


def load_recipe(name: str) -> Recipe:
    path = RECIPES_DIR / f"{name}.yaml"
    if not name.replace("-", "").replace("_", "").isalnum() or not path.is_file():
        raise InvalidRequestError(
            f"unknown recipe '{name}'; available: {', '.join(recipe_names())}",
            param="recipe",
            code="unknown_recipe",
        )
    return Recipe.model_validate(yaml.safe_load(path.read_text()))
