"""The DPO recipe: preference pairs on an adapter, in the shared lifecycle (`TrainingRecipe`:
per-epoch checkpoints, pause/resume, resume after a kill, data-parallel under torchrun).

The reference model is never a second copy of the weights:
- from a base model, it is the base itself: the adapter disabled (`disable_adapter()`);
- from a fine-tuned model (`start_adapter`, e.g. SFT then DPO), it is that starting
  adapter, loaded a second time as a frozen adapter named "reference" (a few MB of LoRA
  weights) and switched to with `set_adapter` for the reference forward.

The reference's log-probabilities of each pair never change, so each is computed once, the
first time the pair comes up, and kept (in memory and in the resume state): after the first
epoch a step is one policy forward and backward (TRL's `precompute_ref_log_probs`).

The loss is TRL's sigmoid DPO loss plus the recipe's `preference.sft_weight` × the
preferred answers' token NLL (`services.trainer.dpo_loss`): on a small preference set DPO
alone widens the margin mostly by making the non-preferred answers unlikely, and the model's
own answers to new prompts barely change; with the SFT term they take the preferred form.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Sequence
from typing import Any

from services.trainer.dpo_loss import DpoResult, dpo_loss, sequence_logps
from services.trainer.preference import PairExample, pair_batch, tokenize_pair
from services.trainer.run import RunHooks, RunSettings, TrainingRecipe
from tuneloop_core.datasets.conversation import PreferencePair
from tuneloop_core.errors import InvalidRequestError

log = logging.getLogger(__name__)
REFERENCE = "reference"  # the frozen copy of the starting adapter
TRAINED = "default"  # PEFT's name of the adapter being trained
REWARD_METRICS = ("reward_margin", "reward_accuracy", "chosen_reward", "rejected_reward")


class DpoRecipe(TrainingRecipe):
    """DPO on preference pairs: each step scores every pair's two answers with the policy
    (one packed batch: chosen…, rejected…) against the kept reference log-probs."""

    def __init__(
        self,
        settings: RunSettings,
        train: Sequence[PreferencePair],
        validation: Sequence[PreferencePair],
        hooks: RunHooks,
        beta: float,
    ):
        if settings.recipe.adapter.kind == "full":
            raise InvalidRequestError(
                "DPO trains an adapter against the model it started from; the 'full' recipe "
                "has no adapter (its reference would be a second copy of the model). Use "
                "'lora' or 'dora'.",
                param="recipe",
            )
        super().__init__(settings, hooks)
        self.beta = beta
        self._train_pairs = train
        self._validation_pairs = validation
        self.train_examples: list[PairExample] = []
        self.validation_examples: list[PairExample] = []
        # Reference log-probs of (chosen, rejected) per pair, NaN until computed.
        self.reference: dict[str, Any] = {}

    @property
    def n_train(self) -> int:
        return len(self.train_examples)

    def _prepare_data(self) -> None:
        import torch

        self.train_examples = self._tokenize_pairs(self._train_pairs, "training")
        self.validation_examples = self._tokenize_pairs(self._validation_pairs, "validation")
        self.reference = {
            split: torch.full((len(examples), 2), float("nan"), dtype=torch.float64)
            for split, examples in (
                ("train", self.train_examples),
                ("validation", self.validation_examples),
            )
        }

    def _tokenize_pairs(self, pairs: Sequence[PreferencePair], what: str) -> list[PairExample]:
        examples = [tokenize_pair(self.tokenizer, p, self.settings.max_seq_length) for p in pairs]
        self._warn_truncated([e.truncated for e in examples], what)
        kept = [e for e in examples if e.chosen.trained_tokens and e.rejected.trained_tokens]
        if len(kept) < len(examples):
            self.hooks.warn(
                f"{len(examples) - len(kept)} {what} pairs have a prompt that fills "
                f"{self.settings.max_seq_length} tokens, leaving no answer to compare; "
                "they were left out"
            )
        return kept

    def _build_model(self, resuming: bool) -> Any:
        import torch

        model = super()._build_model(resuming)
        start = self.settings.start_adapter
        if start is not None:
            model.load_adapter(str(start), adapter_name=REFERENCE, is_trainable=False)
            for name, param in model.named_parameters():
                if f".{REFERENCE}." in name:
                    param.requires_grad_(False)
                    param.data = param.data.to(torch.float32)  # as the trained copy started
            log.info("DPO reference: the starting adapter %s, frozen", start)
        else:
            log.info("DPO reference: the base model (the adapter disabled)")
        return model

    @staticmethod
    def objective(model: Any, batch: dict[str, Any]) -> Any:
        return sequence_logps(model, batch)

    # --- the step -----------------------------------------------------------------------

    def _batch(self, pairs: Sequence[PairExample]) -> dict[str, Any]:
        tensors = pair_batch(pairs, self.settings.recipe.data.packing, self.pad_id)
        return {
            name: t.to(self.world.device) if hasattr(t, "to") else t for name, t in tensors.items()
        }

    @contextlib.contextmanager
    def _as_reference(self) -> Iterator[None]:
        """The model as the reference: the starting adapter, or the base without adapter.
        Eval mode, so that adapter dropout cannot make the kept values depend on the step."""
        self.model.eval()
        try:
            if REFERENCE in self.model.peft_config:
                self.model.set_adapter(REFERENCE, inference_mode=True)
                try:
                    yield
                finally:
                    self.model.set_adapter(TRAINED)  # trainable again; the reference frozen
            else:
                with self.model.disable_adapter():
                    yield
        finally:
            self.model.train()

    def _reference_logps(self, split: str, indices: Sequence[int]) -> Any:
        """(len(indices), 2) reference log-probs of (chosen, rejected), computed on first
        use and kept."""
        import torch

        kept = self.reference[split]
        examples = self._examples(split)
        missing = [i for i in indices if torch.isnan(kept[i, 0])]
        if missing:
            with torch.no_grad(), self._as_reference(), self.forward_precision():
                logps = sequence_logps(self.model, self._batch([examples[i] for i in missing]))
            logps = logps.double().cpu()
            kept[missing, 0] = logps[: len(missing)]
            kept[missing, 1] = logps[len(missing) :]
        return kept[list(indices)].to(self.world.device, torch.float32)

    def _examples(self, split: str) -> list[PairExample]:
        return self.train_examples if split == "train" else self.validation_examples

    def _dpo(self, split: str, indices: Sequence[int], logps: Any) -> DpoResult:
        n = len(indices)
        reference = self._reference_logps(split, indices)
        examples = self._examples(split)
        return dpo_loss(
            logps[:n],
            logps[n:],
            reference[:, 0],
            reference[:, 1],
            self.beta,
            self.settings.recipe.preference.sft_weight,
            sum(examples[i].chosen.trained_tokens for i in indices),
        )

    def _forward_backward(self, picked: list[int]) -> tuple[dict[str, float], int]:
        world = self.world
        tokens = sum(self.train_examples[i].tokens for i in picked)
        if not world.distributed:
            with self.forward_precision():
                logps = self.loss_forward(self._batch([self.train_examples[i] for i in picked]))
            result = self._dpo("train", picked, logps)
            result.loss.backward()
            return result.metrics(), tokens
        mine = world.shard(picked)
        # A rank left without pairs still runs a forward and backward, weighted 0, so DDP
        # gets every parameter's gradient from it (as in SftRecipe).
        used = mine or picked[:1]
        with self.forward_precision():
            logps = self.loss_forward(self._batch([self.train_examples[i] for i in used]))
        result = self._dpo("train", used, logps)
        # DDP averages gradients over ranks. Weighting each rank's means by its share of
        # the step's pairs (the preference loss) and of its chosen tokens (the SFT loss),
        # × ranks, makes that the gradient of the means over the whole step.
        pairs, chosen = len(mine), sum(self.train_examples[i].chosen.trained_tokens for i in mine)
        all_chosen = sum(self.train_examples[i].chosen.trained_tokens for i in picked)
        loss = result.preference_loss * (world.size * pairs / len(picked))
        if result.sft_weight:
            sft_share = world.size * chosen / max(1, all_chosen)
            loss = loss + result.sft_weight * result.sft_loss * sft_share
        loss.backward()
        local = result.metrics()
        sums = world.sum(
            [float(result.preference_loss.detach()) * pairs]
            + [0.0 if result.sft_loss is None else float(result.sft_loss.detach()) * chosen]
            + [local[name] * pairs for name in REWARD_METRICS]
        )
        measured = {
            "train_loss": sums[0] / len(picked) + result.sft_weight * sums[1] / max(1, all_chosen)
        }
        measured.update(
            {name: v / len(picked) for name, v in zip(REWARD_METRICS, sums[2:], strict=True)}
        )
        return measured, tokens

    # --- epoch metrics ------------------------------------------------------------------

    def _epoch_metrics(self, steps: list[dict[str, float]]) -> dict[str, float]:
        """The mean loss, reward margin and reward accuracy of the epoch's steps."""
        if not steps:
            return {}
        return {
            f"train_{name}" if name != "train_loss" else name: sum(m[name] for m in steps)
            / len(steps)
            for name in ("train_loss", "reward_margin", "reward_accuracy")
        }

    def evaluate(self) -> dict[str, float]:
        """The loss, reward margin and reward accuracy over the validation pairs (empty
        without validation data)."""
        import torch

        examples = self.validation_examples
        if not examples:
            return {}
        size = max(1, self.settings.batch_size)
        # pairs' sums of the preference loss, margin and accuracy; the SFT loss's token sum
        sums = [0.0, 0.0, 0.0, 0.0]
        # Each rank evaluates its share of the batches; the sums are added up below.
        for start in self.world.shard(range(0, len(examples), size)):
            indices = list(range(start, min(start + size, len(examples))))
            batch = self._batch([examples[i] for i in indices])
            self.model.eval()
            with torch.no_grad(), self.forward_precision():
                logps = sequence_logps(self.model, batch)
            self.model.train()
            result = self._dpo("validation", indices, logps)
            measured = result.metrics()
            sums[0] += float(result.preference_loss) * len(indices)
            sums[1] += measured["reward_margin"] * len(indices)
            sums[2] += measured["reward_accuracy"] * len(indices)
            if result.sft_loss is not None:
                sums[3] += float(result.sft_loss) * sum(
                    examples[i].chosen.trained_tokens for i in indices
                )
        loss, margin, accuracy, sft = self.world.sum(sums)
        chosen_tokens = sum(e.chosen.trained_tokens for e in examples)
        weight = self.settings.recipe.preference.sft_weight
        return {
            "valid_loss": loss / len(examples) + weight * sft / max(1, chosen_tokens),
            "valid_reward_margin": margin / len(examples),
            "valid_reward_accuracy": accuracy / len(examples),
        }

    # --- resume state -------------------------------------------------------------------

    def _extra_state(self) -> dict[str, Any]:
        return {"reference_logps": self.reference}

    def _restore_extra(self, extra: dict[str, Any]) -> None:
        saved = extra.get("reference_logps", {})
        for split, kept in self.reference.items():
            if split in saved and saved[split].shape == kept.shape:
                self.reference[split] = saved[split]
