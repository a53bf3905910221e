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
from tuneloop_core.datasets.reader import read_dataset
from tuneloop_core.errors import InvalidRequestError


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
    dataset = read_dataset(data_dir / relpath)
    if dataset.issues:
        shown = "; ".join(str(issue) for issue in dataset.issues[:3])
        more = f"; and {len(dataset.issues) - 3} more" if len(dataset.issues) > 3 else ""
        raise InvalidRequestError(
            f"The {param.replace('_', ' ')} has {len(dataset.issues)} invalid "
            f"record(s): {shown}{more}. Nothing was trained.",
            param=param,
            code="invalid_file_format",
        )
    if not dataset.conversations:
        raise InvalidRequestError(
            f"The {param.replace('_', ' ')} contains no examples.",
            param=param,
            code="invalid_file_format",
        )
    return dataset.conversations


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
    chosen = hparams.choose(spec.hyperparameters, len(train), recipe.max_epochs)
    return PreparedJob(recipe, Path(base.path), train, validation, chosen, seed, note)
