"""Everything a fine-tuning job needs before training: data read and validated, the
validation split, the recipe and the hyper-parameters."""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

from services.trainer import hparams
from services.trainer.hparams import ChosenHyperparameters
from services.trainer.recipes.config import Recipe
from services.trainer.spec import DEFAULT_SEED, recipe_for
from tuneloop.trainer.v1 import trainer_pb2
from tuneloop_core import basemodels
from tuneloop_core.datasets.conversation import Conversation
from tuneloop_core.datasets.validation import load_conversations


@dataclass
class PreparedJob:
    recipe: Recipe
    base_path: Path
    train: list[Conversation]
    validation: list[Conversation]
    hyperparameters: ChosenHyperparameters
    seed: int
    split_note: str


def _read(data_dir: Path, relpath: str, param: str) -> list[Conversation]:
    """The file's conversations; a file with any bad record fails the job before training."""
    return load_conversations(data_dir / relpath, param=param)


def prepare(spec: trainer_pb2.FineTuneJobSpec, data_dir: Path) -> PreparedJob:
    recipe = recipe_for(spec)
    base = basemodels.resolve(spec.base_model, data_dir)
    train = _read(data_dir, spec.training_file_path, "training_file")
    seed = int(spec.seed) or DEFAULT_SEED
    if spec.validation_file_path:
        validation = _read(data_dir, spec.validation_file_path, "validation_file")
        note = f"validating on {len(validation)} examples of the validation file"
    elif len(train) >= recipe.data.min_examples_for_split and recipe.data.validation_split > 0:
        order = list(range(len(train)))
        random.Random(seed).shuffle(order)
        cut = max(1, int(len(train) * recipe.data.validation_split))
        validation = [train[i] for i in sorted(order[:cut])]
        train = [train[i] for i in sorted(order[cut:])]
        share = recipe.data.validation_split
        note = f"validating on an automatic {share:.0%} split ({cut} examples)"
    else:
        validation = []
        note = "no validation: too few examples for a split and no validation file"
    chosen = hparams.choose(
        spec.hyperparameters, len(train), recipe.max_epochs, recipe.optim.batch_size
    )
    return PreparedJob(recipe, Path(base.path), train, validation, chosen, seed, note)
