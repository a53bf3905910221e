"""The trainer's edge for a job it took (`from_pb`): the FineTuneJobSpec checked against the
contract's bounds and read into the domain — data read and validated (conversations for SFT,
preference pairs for DPO), the validation split, the recipe, the adapter it starts from,
"auto" hyper-parameters resolved, and the `RunSettings` the recipe runs with."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from services.trainer import hparams
from services.trainer.hparams import ChosenHyperparameters
from services.trainer.preference import read_pairs
from services.trainer.recipes.config import Recipe
from services.trainer.run import RunSettings
from services.trainer.spec import is_dpo, recipe_for
from tuneloop.events.v1 import events_pb2
from tuneloop.trainer.v1 import trainer_pb2
from tuneloop_core import basemodels
from tuneloop_core.datasets.conversation import Conversation
from tuneloop_core.datasets.validation import load_conversations
from tuneloop_core.errors import InvalidRequestError
from tuneloop_core.jobspecs import fine_tune

T = TypeVar("T")


@dataclass
class PreparedJob:
    spec: trainer_pb2.FineTuneJobSpec  # names the job's models (base, tenant, suffix)
    settings: RunSettings
    # Conversations (SFT), or PreferencePairs (DPO)
    train: Sequence[Any]
    validation: Sequence[Any]
    hyperparameters: ChosenHyperparameters  # what "auto" chose, and why
    split_note: str


@dataclass(frozen=True)
class InputPaths:
    """Where the job's files are on this host (resolved by id, tuneloop_core.uploads)."""

    training: Path
    validation: Path | None = None


def job_spec(request: events_pb2.JobRequested) -> trainer_pb2.FineTuneJobSpec:
    """The request's typed spec, checked with the bounds the gateway checked it with."""
    if request.WhichOneof("spec") != "fine_tune":
        raise InvalidRequestError(
            "malformed fine-tuning job: it carries no FineTuneJobSpec", code="invalid_job"
        )
    fine_tune.check(request.fine_tune)
    return request.fine_tune


def from_pb(
    spec: trainer_pb2.FineTuneJobSpec, data_dir: Path, output: Path, files: InputPaths
) -> PreparedJob:
    """Everything the job needs before training, from its checked spec (`job_spec`);
    `output` holds its checkpoints. A file with any bad record fails the job before
    training."""
    recipe = recipe_for(spec)
    base = basemodels.resolve(spec.base_model, data_dir)
    start = start_adapter(spec, data_dir, recipe)
    read = read_pairs if is_dpo(spec) else _conversations
    train: list[Any] = read(files.training, "training_file")
    seed = int(spec.seed) or fine_tune.DEFAULT_SEED
    if files.validation is not None:
        validation = read(files.validation, "validation_file")
        note = f"validating on {len(validation)} examples of the validation file"
    else:
        train, validation, note = _split(train, recipe, seed)
    given, batch = spec.hyperparameters, recipe.optim.batch_size
    if is_dpo(spec):
        sft_weight = recipe.preference.sft_weight
        chosen = hparams.choose_dpo(given, len(train), recipe.max_epochs, batch, sft_weight)
    else:
        chosen = hparams.choose(given, len(train), recipe.max_epochs, batch)
    settings = RunSettings(
        recipe=recipe,
        base_path=Path(base.path),
        output=output,
        n_epochs=chosen.n_epochs,
        batch_size=chosen.batch_size,
        learning_rate=recipe.optim.learning_rate * chosen.learning_rate_multiplier,
        seed=seed,
        max_seq_length=recipe.data.max_seq_length,
        start_adapter=start,
    )
    return PreparedJob(spec, settings, train, validation, chosen, note)


def _conversations(path: Path, param: str) -> list[Conversation]:
    return load_conversations(path, param=param)


def _split(train: list[T], recipe: Recipe, seed: int) -> tuple[list[T], list[T], str]:
    """An automatic validation split when the data is large enough (the recipe says)."""
    if len(train) < recipe.data.min_examples_for_split or recipe.data.validation_split <= 0:
        return train, [], "no validation: too few examples for a split and no validation file"
    order = list(range(len(train)))
    random.Random(seed).shuffle(order)
    cut = max(1, int(len(train) * recipe.data.validation_split))
    validation = [train[i] for i in sorted(order[:cut])]
    kept = [train[i] for i in sorted(order[cut:])]
    share = recipe.data.validation_split
    return kept, validation, f"validating on an automatic {share:.0%} split ({cut} examples)"


def start_adapter(spec: trainer_pb2.FineTuneJobSpec, data_dir: Path, recipe: Recipe) -> Path | None:
    """The adapter of the fine-tuned model the job continues from (`start_model`), if any."""
    if not spec.start_adapter_path:
        return None
    if recipe.adapter.kind == "full":
        raise InvalidRequestError(
            f"'{spec.start_model}' is an adapter, which this job would train further; the "
            "'full' recipe trains every weight and has none. Use 'lora' or 'dora'.",
            param="recipe",
        )
    root = data_dir.resolve()
    path = (root / spec.start_adapter_path).resolve()
    if not path.is_relative_to(root) or not (path / "adapter_config.json").is_file():
        raise InvalidRequestError(
            f"the adapter of '{spec.start_model}' is not on this trainer "
            f"({spec.start_adapter_path})",
            param="model",
            code="model_not_available",
        )
    return path
