"""Run the SFT or DPO recipe outside the job worker, data-parallel when `torchrun` launches
it:

    torchrun --nproc_per_node 2 -m services.trainer.distributed --config run.json

or a single process with `python -m services.trainer.distributed --config run.json`.
`run.json` holds `RunSettings` fields, the method and the data files (see `RunConfig`:
conversations for "supervised", preference pairs for "dpo"). Rank 0 logs
steps and epochs to stderr and writes `<output>/step_metrics.csv`; the checkpoints are
laid out as for a job (`services.trainer.checkpoints`), and a run whose output holds a
resume state continues from it.
"""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from services.trainer import checkpoints, results
from services.trainer.dpo import DpoRecipe
from services.trainer.hparams import DPO_BETA
from services.trainer.preference import read_pairs
from services.trainer.recipes.config import Recipe, load_recipe
from services.trainer.run import RunSettings, SftRecipe, TrainingRecipe
from tuneloop_core.datasets.validation import load_conversations
from tuneloop_core.jobspecs.fine_tune import BETA_MAX, DEFAULT_RECIPE, DEFAULT_SEED, MethodType

log = logging.getLogger("services.trainer.distributed")


class RunConfig(BaseModel):
    """The `--config` JSON file."""

    model_config = ConfigDict(extra="forbid")

    recipe: str | Recipe = DEFAULT_RECIPE  # a shipped recipe's name, or a whole recipe
    method: MethodType = "supervised"  # or "dpo"
    base_path: Path  # the base model's directory
    output: Path  # checkpoints, resume state and step_metrics.csv
    start_adapter: Path | None = None  # an adapter to continue (DPO: also the reference)
    training_file: Path  # JSONL or JSON conversations, or preference pairs for "dpo"
    validation_file: Path | None = None  # none: no validation metrics
    beta: float = Field(DPO_BETA, gt=0, le=BETA_MAX)  # DPO only
    n_epochs: int = Field(ge=1)
    batch_size: int = Field(ge=1)  # examples per optimiser step, over all ranks together
    learning_rate: float | None = Field(None, gt=0)  # none: the recipe's
    seed: int = DEFAULT_SEED  # the example order and the adapter's initial weights
    max_seq_length: int | None = Field(None, ge=16)  # tokens; none: the recipe's

    def run_settings(self) -> RunSettings:
        recipe = self.recipe if isinstance(self.recipe, Recipe) else load_recipe(self.recipe)
        return RunSettings(
            recipe=recipe,
            base_path=self.base_path,
            output=self.output,
            n_epochs=self.n_epochs,
            batch_size=self.batch_size,
            learning_rate=self.learning_rate or recipe.optim.learning_rate,
            seed=self.seed,
            max_seq_length=self.max_seq_length or recipe.data.max_seq_length,
            start_adapter=self.start_adapter,
        )

    def training_recipe(self, hooks: LogHooks) -> TrainingRecipe:
        """The method's recipe with the data files read."""
        if self.method == "dpo":
            validation = (
                read_pairs(self.validation_file, "validation_file") if self.validation_file else []
            )
            train = read_pairs(self.training_file, "training_file")
            return DpoRecipe(self.run_settings(), train, validation, hooks, self.beta)
        conversations = [c.turns for c in load_conversations(self.training_file)]
        held_out = []
        if self.validation_file is not None:
            held_out = [
                c.turns for c in load_conversations(self.validation_file, param="validation_file")
            ]
        return SftRecipe(self.run_settings(), conversations, held_out, hooks)


class LogHooks:
    """RunHooks for a terminal: log lines (the recipe calls them on rank 0 only). Never
    asks to stop."""

    def on_step(
        self, progress: checkpoints.Progress, epoch: float, metrics: dict[str, float]
    ) -> None:
        shown = ", ".join(f"{k} {v:.4g}" for k, v in metrics.items())
        log.info("step %d (epoch %.2f): %s", progress.global_step, epoch, shown)

    def on_epoch(self, epoch: int, metrics: dict[str, float], checkpoint: Path) -> None:
        shown = ", ".join(f"{k} {v:.4f}" for k, v in metrics.items())
        log.info("epoch %d saved to %s (%s)", epoch, checkpoint, shown)

    def stop_requested(self) -> Literal["pause", "cancel"] | None:
        return None

    def warn(self, message: str) -> None:
        log.warning("%s", message)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m services.trainer.distributed")
    parser.add_argument("--config", type=Path, required=True, help="RunConfig JSON file")
    parser.add_argument(
        "--write-digests",
        action="store_true",
        help="each rank writes the SHA-256 of its trained weights to <output>/rank-<r>.sha256",
    )
    args = parser.parse_args(argv)
    rank = int(os.environ.get("RANK", "0"))
    logging.basicConfig(
        level=logging.INFO if rank == 0 else logging.WARNING,
        format=f"[rank {rank}] %(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    config = RunConfig.model_validate_json(args.config.read_text())
    recipe = config.training_recipe(LogHooks())
    recipe.setup()
    outcome = recipe.train()
    if args.write_digests:
        digest = checkpoints.trainable_digest(recipe.model)
        (config.output / f"rank-{recipe.world.rank}.sha256").write_text(digest + "\n")
    if recipe.world.is_main:
        columns = results.DPO_COLUMNS if config.method == "dpo" else results.COLUMNS
        results.write_metrics_csv(config.output, recipe.progress.rows, columns)
    log.info("%s", outcome)
    recipe.cleanup(keep_state=outcome == "paused")


if __name__ == "__main__":
    main()
