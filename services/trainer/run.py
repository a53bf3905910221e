"""The training lifecycle every method shares (`TrainingRecipe`: setup → train, epoch by
epoch → save_checkpoint → cleanup) and the SFT recipe on it; DPO is `services.trainer.dpo`.

Runs synchronously (in a worker thread); it reports through `RunHooks`, which the job
worker turns into events, and asks the hooks between steps whether to pause or cancel.

Launched by `torchrun` (see `services.trainer.distributed`), it trains data-parallel: each
rank takes a disjoint share of every step's examples, gradients are averaged by DDP
(`services.trainer.ddp`), and only rank 0 saves and publishes.
"""

from __future__ import annotations

import contextlib
import logging
import math
import random
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

from services.trainer import checkpoints
from services.trainer.checkpoints import Progress
from services.trainer.data import (
    IGNORE,
    Example,
    pack,
    to_tensors,
    tokenize_conversation,
    unlearned_stop,
)
from services.trainer.loss import LossResult, causal_lm_loss
from services.trainer.model_setup import apply_method, frozen_dtype, load_model
from services.trainer.recipes.config import Recipe
from services.trainer.stops import stop_ids
from tuneloop_core.datasets.conversation import Turn
from tuneloop_core.errors import InvalidRequestError
from tuneloop_core.metrics import TRAINED_TOKENS

if TYPE_CHECKING:
    from services.trainer.ddp import World

log = logging.getLogger(__name__)
Outcome = Literal["finished", "paused", "cancelled"]


@dataclass(frozen=True)
class RunSettings:
    recipe: Recipe
    base_path: Path
    output: Path  # checkpoints and resume state
    n_epochs: int
    batch_size: int  # examples per step (DPO: preference pairs)
    learning_rate: float
    seed: int
    max_seq_length: int
    start_adapter: Path | None = None  # an adapter to continue from (a fine-tuned model's)


class RunHooks(Protocol):
    def on_step(self, progress: Progress, epoch: float, metrics: dict[str, float]) -> None: ...
    def on_epoch(self, epoch: int, metrics: dict[str, float], checkpoint: Path) -> None: ...
    def stop_requested(self) -> Literal["pause", "cancel"] | None: ...
    def warn(self, message: str) -> None: ...


class TrainingRecipe:
    """What every method shares: the model (base + adapter, or continued from one), the
    optimiser and schedule, the step loop with pause/cancel, per-epoch checkpoints and the
    resume state. A method supplies its data (`_prepare_data`, `n_train`), what its model
    computes (`objective`), one step's forward and backward (`_forward_backward`), what an
    epoch reports (`_epoch_metrics`, `evaluate`) and anything more to keep in the resume
    state (`_extra_state`, `_restore_extra`)."""

    def __init__(self, settings: RunSettings, hooks: RunHooks):
        self.settings = settings
        self.hooks = hooks
        self.progress = Progress()

    # --- what a method supplies -------------------------------------------------------

    @property
    def n_train(self) -> int:
        raise NotImplementedError

    def _prepare_data(self) -> None:
        """Tokenise the data (the tokenizer is loaded; the model not yet)."""
        raise NotImplementedError

    @staticmethod
    def objective(model: Any, batch: dict[str, Any]) -> Any:
        """What the trainable model computes on a batch (DDP wraps this computation)."""
        raise NotImplementedError

    def _forward_backward(self, picked: list[int]) -> tuple[dict[str, float], int]:
        """Backward of the step on training examples `picked`; returns its metrics
        ("train_loss" first) and the tokens it processed."""
        raise NotImplementedError

    def _epoch_metrics(self, steps: list[dict[str, float]]) -> dict[str, float]:
        """An epoch's training metrics from its steps' (those this process ran)."""
        return {"train_loss": sum(m["train_loss"] for m in steps) / len(steps)} if steps else {}

    def evaluate(self) -> dict[str, float]:
        return {}

    def _extra_state(self) -> dict[str, Any] | None:
        return None

    def _restore_extra(self, extra: dict[str, Any]) -> None:
        return None

    # --- setup ------------------------------------------------------------------------

    def setup(self) -> None:
        import torch
        from transformers import AutoTokenizer, get_scheduler

        from services.trainer import ddp

        s = self.settings
        self.world: World = ddp.world_from_environment()
        if self.world.distributed:
            self.hooks = ddp.MainRankHooks(self.hooks, self.world)
        torch.manual_seed(s.seed)
        self.tokenizer = AutoTokenizer.from_pretrained(s.base_path)
        if problem := unlearned_stop(self.tokenizer, stop_ids(s.base_path, self.tokenizer)):
            raise InvalidRequestError(problem, param="model", code="template_has_no_stop")
        self.pad_id = self.tokenizer.pad_token_id
        if self.pad_id is None:
            self.pad_id = self.tokenizer.eos_token_id
        self._prepare_data()
        saved = checkpoints.load_progress(s.output)
        self.model = self._build_model(resuming=saved is not None)
        # on the rank's device
        self.loss_forward = ddp.loss_forward(self.model, self.world, self.objective)
        self.dtype = frozen_dtype(s.recipe)
        trainable = [p for p in self.model.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(
            trainable, lr=s.learning_rate, weight_decay=s.recipe.optim.weight_decay
        )
        total = s.n_epochs * self.steps_per_epoch
        self.scheduler = get_scheduler(
            s.recipe.optim.schedule,
            self.optimizer,
            num_warmup_steps=int(total * s.recipe.optim.warmup_ratio),
            num_training_steps=total,
        )
        if saved is not None:
            extra = checkpoints.restore_optimizer(s.output, self.optimizer, self.scheduler)
            self._restore_extra(extra)
            self.progress = saved
            log.info("resumed at epoch %d step %d", saved.epoch, saved.step_in_epoch)

    def _build_model(self, resuming: bool) -> Any:
        """The base model wrapped for the method: a resumed run continues from its saved
        weights, a new one from the start adapter, if any, else a fresh adapter."""
        s = self.settings
        full = s.recipe.adapter.kind == "full"
        state = checkpoints.state_weights(s.output)
        base = load_model(state if resuming and full else s.base_path, s.recipe)
        return apply_method(base, s.recipe, state if resuming and not full else s.start_adapter)

    def _tokenize(self, conversations: Sequence[Sequence[Turn]], what: str) -> list[Example]:
        examples = [
            tokenize_conversation(self.tokenizer, turns, self.settings.max_seq_length)
            for turns in conversations
        ]
        self._warn_truncated([e.truncated for e in examples], what)
        return [e for e in examples if e.trained_tokens > 0]

    def _warn_truncated(self, truncated_flags: Sequence[bool], what: str) -> None:
        truncated = [i + 1 for i, flag in enumerate(truncated_flags) if flag]
        if truncated:
            shown = ", ".join(map(str, truncated[:10]))
            self.hooks.warn(
                f"{len(truncated)} {what} examples are longer than {self.settings.max_seq_length} "
                f"tokens and were truncated (examples {shown}{'…' if len(truncated) > 10 else ''})"
            )

    @property
    def steps_per_epoch(self) -> int:
        return math.ceil(self.n_train / self.settings.batch_size)

    # --- train ------------------------------------------------------------------------

    def _epoch_order(self, epoch: int) -> list[int]:
        order = list(range(self.n_train))
        random.Random(self.settings.seed * 1000 + epoch).shuffle(order)
        return order

    def forward_precision(self) -> contextlib.ExitStack:
        """bf16 autocast when the frozen weights are bf16: the fp32 LoRA weights are cast
        (they are small) instead of every activation that meets them being cast to fp32
        and back, as mixed-precision trainers do; PEFT's own cast of each LoRA layer's input
        to the adapter's dtype is switched off inside it (autocast chooses the dtype)."""
        import torch

        stack = contextlib.ExitStack()
        if self.dtype == torch.bfloat16:
            stack.enter_context(torch.autocast(self.world.device.type, dtype=torch.bfloat16))
            if hasattr(self.model, "peft_config"):
                from peft.helpers import disable_input_dtype_casting

                stack.enter_context(disable_input_dtype_casting(self.model))
        return stack

    def train(self) -> Outcome:
        import torch

        s = self.settings
        self.model.train()
        while self.progress.epoch < s.n_epochs:
            epoch = self.progress.epoch
            order = self._epoch_order(epoch)
            steps: list[dict[str, float]] = []
            for step in range(self.progress.step_in_epoch, self.steps_per_epoch):
                stop = self.hooks.stop_requested()
                if stop is not None:
                    return self._stop(stop)
                picked = order[step * s.batch_size : (step + 1) * s.batch_size]
                started = time.perf_counter()
                measured, tokens = self._forward_backward(picked)
                trainable = [p for p in self.model.parameters() if p.requires_grad]
                grad_norm = float(
                    torch.nn.utils.clip_grad_norm_(trainable, s.recipe.optim.max_grad_norm)
                )
                self.optimizer.step()
                self.scheduler.step()
                self.optimizer.zero_grad(set_to_none=True)
                seconds = time.perf_counter() - started
                self.progress.step_in_epoch = step + 1
                self.progress.global_step += 1
                self.progress.trained_tokens += tokens
                TRAINED_TOKENS.labels(s.recipe.name).inc(tokens)
                steps.append(measured)
                at = epoch + (step + 1) / self.steps_per_epoch
                metrics = {
                    "train_loss": measured["train_loss"],
                    "learning_rate": float(self.scheduler.get_last_lr()[0]),
                    "grad_norm": grad_norm,
                    "tokens_per_second": tokens / seconds if seconds > 0 else 0.0,
                    **{k: v for k, v in measured.items() if k != "train_loss"},
                }
                self.progress.rows.append(
                    {"step": self.progress.global_step, "epoch": at, **metrics}
                )
                self.hooks.on_step(self.progress, at, metrics)
            self._end_epoch(epoch, steps)
        if self.world.is_main:
            final = s.output / "final"
            shutil.rmtree(final, ignore_errors=True)
            shutil.copytree(checkpoints.checkpoint_dir(s.output, s.n_epochs), final)
        self.world.barrier()  # every rank returns once the final weights are on disk
        return "finished"

    def _end_epoch(self, epoch: int, steps: list[dict[str, float]]) -> None:
        metrics = self._epoch_metrics(steps)
        metrics.update(self.evaluate())
        self.progress.epoch = epoch + 1
        self.progress.step_in_epoch = 0
        self.progress.history.append({"epoch": float(epoch + 1), **metrics})
        self.progress.rows.append(
            {"epoch": float(epoch + 1), **{f"epoch_{k}": v for k, v in metrics.items()}}
        )
        checkpoint = self.save_checkpoint(epoch + 1)
        self.hooks.on_epoch(epoch + 1, metrics, checkpoint)
        # A worker killed between the save and this line re-announces the epoch on resume.
        self.progress.announced = epoch + 1
        if self.world.is_main:
            checkpoints.write_progress(self.settings.output, self.progress)

    def _stop(self, stop: Literal["pause", "cancel"]) -> Outcome:
        if stop == "pause":
            self._save_state()
            self.world.barrier()
            return "paused"
        return "cancelled"

    # --- save_checkpoint / cleanup ----------------------------------------------------

    def save_checkpoint(self, epoch: int) -> Path:
        """The epoch's weights (servable) and the resume state (rank 0 writes them)."""
        target = checkpoints.checkpoint_dir(self.settings.output, epoch)
        if self.world.is_main:
            checkpoints.save_weights(self.model, self.tokenizer, target)
        self._save_state()
        return target

    def _save_state(self) -> None:
        if not self.world.is_main:
            return  # every rank holds the same weights and optimizer state
        checkpoints.save_state(
            self.settings.output,
            checkpoints.TrainingObjects(self.model, self.tokenizer, self.optimizer, self.scheduler),
            self.progress,
            self._extra_state(),
        )

    def cleanup(self, keep_state: bool) -> None:
        if not keep_state and self.world.is_main:
            checkpoints.discard_state(self.settings.output)
        del self.model, self.loss_forward, self.optimizer, self.scheduler
        self.world.close()


class SftRecipe(TrainingRecipe):
    """Supervised fine-tuning: the loss over the assistant tokens of conversations."""

    def __init__(
        self,
        settings: RunSettings,
        train: Sequence[Sequence[Turn]],
        validation: Sequence[Sequence[Turn]],
        hooks: RunHooks,
    ):
        super().__init__(settings, hooks)
        self._train_turns = train
        self._validation_turns = validation
        self.train_examples: list[Example] = []
        self.validation_examples: list[Example] = []

    @property
    def n_train(self) -> int:
        return len(self.train_examples)

    def _prepare_data(self) -> None:
        self.train_examples = self._tokenize(self._train_turns, "training")
        self.validation_examples = self._tokenize(self._validation_turns, "validation")

    @staticmethod
    def objective(model: Any, batch: dict[str, Any]) -> LossResult:
        return causal_lm_loss(model, batch)

    def _batch(self, examples: Sequence[Example]) -> dict[str, Any]:
        packed = pack(examples, self.settings.recipe.data.packing)
        tensors = to_tensors(packed, self.pad_id)
        return {
            name: t.to(self.world.device) if hasattr(t, "to") else t for name, t in tensors.items()
        }

    def _forward_backward(self, picked: list[int]) -> tuple[dict[str, float], int]:
        """Backward of the step's loss; its value is the mean over the labelled tokens of
        all the step's examples, with the token accuracy."""
        chosen = [self.train_examples[i] for i in picked]
        loss, accuracy = self._sft_backward(chosen)
        tokens = sum(len(e.input_ids) for e in chosen)
        return {"train_loss": loss, "train_token_accuracy": accuracy}, tokens

    def _sft_backward(self, chosen: list[Example]) -> tuple[float, float]:
        world = self.world
        if not world.distributed:
            with self.forward_precision():
                result = self.loss_forward(self._batch(chosen))
            result.loss.backward()
            return float(result.loss.detach()), result.correct / max(1, result.tokens)
        mine = world.shard(chosen)
        # A rank left without examples (a last step smaller than the world) still runs a
        # forward and backward, weighted 0, so DDP gets every parameter's gradient from it.
        batch = self._batch(mine or chosen[:1])
        local = int((batch["labels"][:, 1:] != IGNORE).sum()) if mine else 0
        total = max(1.0, world.sum([local])[0])
        with self.forward_precision():
            result = self.loss_forward(batch)
        # DDP averages gradients over ranks. Weighting each rank's mean loss by its share
        # of the step's labelled tokens (× ranks) turns that average into the gradient of
        # the mean over all of them: the same objective as one process with the whole step.
        (result.loss * (world.size * local / total)).backward()
        loss_sum, correct = world.sum(
            [float(result.loss.detach()) * local, result.correct if mine else 0]
        )
        return loss_sum / total, correct / total

    def evaluate(self) -> dict[str, float]:
        """Validation loss, perplexity and token accuracy (empty without validation data)."""
        import torch

        if not self.validation_examples:
            return {}
        self.model.eval()
        total_loss = 0.0
        tokens = correct = 0
        size = max(1, self.settings.batch_size)
        with torch.no_grad(), self.forward_precision():
            # Each rank evaluates its share of the batches; the sums are added up below.
            for start in self.world.shard(range(0, len(self.validation_examples), size)):
                result = causal_lm_loss(
                    self.model, self._batch(self.validation_examples[start : start + size])
                )
                total_loss += float(result.loss) * result.tokens
                tokens += result.tokens
                correct += result.correct
        self.model.train()
        total_loss, all_tokens, all_correct = self.world.sum([total_loss, tokens, correct])
        loss = total_loss / max(1, all_tokens)
        return {
            "valid_loss": loss,
            "valid_perplexity": math.exp(min(loss, 50.0)),
            "valid_token_accuracy": all_correct / max(1, all_tokens),
        }
