"""The trainer's edge for a job it took (`from_pb`): the FineTuneJobSpec checked against the
contract's bounds and read into the domain — data read and validated, the validation split,
the recipe, "auto" hyper-parameters resolved, and the `RunSettings` the recipe runs with."""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

from services.trainer import hparams
from services.trainer.hparams import ChosenHyperparameters
from services.trainer.run import RunSettings
from services.trainer.spec import recipe_for
from tuneloop.events.v1 import events_pb2
from tuneloop.trainer.v1 import trainer_pb2
from tuneloop_core import basemodels
from tuneloop_core.datasets.conversation import Conversation
from tuneloop_core.datasets.validation import load_conversations
from tuneloop_core.errors import InvalidRequestError
from tuneloop_core.jobspecs import fine_tune


@dataclass
class PreparedJob:
    spec: trainer_pb2.FineTuneJobSpec  # names the job's models (base, tenant, suffix)
    settings: RunSettings
    train: list[Conversation]
    validation: list[Conversation]
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
    train = load_conversations(files.training, param="training_file")
    seed = int(spec.seed) or fine_tune.DEFAULT_SEED
    if files.validation is not None:
        validation = load_conversations(files.validation, param="validation_file")
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
    settings = RunSettings(
        recipe=recipe,
        base_path=Path(base.path),
        output=output,
        n_epochs=chosen.n_epochs,
        batch_size=chosen.batch_size,
        learning_rate=recipe.optim.learning_rate * chosen.learning_rate_multiplier,
        seed=seed,
        max_seq_length=recipe.data.max_seq_length,
    )
    return PreparedJob(spec, settings, train, validation, chosen, note)
