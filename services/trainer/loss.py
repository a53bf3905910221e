"""Loss over assistant tokens only, computing the LM head only where a label exists.

Most tokens of an instruction dataset are prompt; projecting only the labelled positions
onto the vocabulary (49k entries for SmolLM2) skips most of the head's work, and the
head and the loss run fused, chunk by chunk (`services.trainer.head_loss`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from services.trainer.data import IGNORE


@dataclass
class LossResult:
    loss: Any  # scalar tensor (mean over labelled tokens)
    tokens: int  # labelled tokens
    correct: int  # of which the argmax prediction was right


def backbone_and_head(model: Any) -> tuple[Any, Any]:
    """The transformer body and the LM head of a causal LM (PEFT-wrapped or not)."""
    causal = model.get_base_model() if hasattr(model, "get_base_model") else model
    return causal.model, causal.lm_head


@dataclass
class Labelled:
    """The backbone's hidden states at the positions that predict a labelled token."""

    head: Any  # the LM head, to be applied to `hidden` only
    hidden: Any  # (labelled tokens, hidden size)
    targets: Any  # (labelled tokens,) the token each position predicts
    selected: Any  # (rows, positions - 1) bool: which positions those are


def labelled_hidden(model: Any, batch: dict[str, Any]) -> Labelled:
    """One backbone forward over a packed batch (`data.to_tensors`), kept at the labelled
    positions only: SFT's loss and DPO's log-probs both project just these."""
    backbone, head = backbone_and_head(model)
    hidden = backbone(
        input_ids=batch["input_ids"],
        position_ids=batch["position_ids"],
        segment_bounds=batch["segment_bounds"],
        use_cache=False,
    ).last_hidden_state
    targets = batch["labels"][:, 1:]
    selected = targets != IGNORE
    return Labelled(head, hidden[:, :-1][selected], targets[selected], selected)


def causal_lm_loss(model: Any, batch: dict[str, Any]) -> LossResult:
    """The model must use the segment attention (`services.trainer.attention`), which
    keeps a packed row's examples apart; `batch` comes from `data.to_tensors`."""
    import torch
    import torch.nn.functional as F

    from services.trainer.head_loss import fusable, head_loss

    labelled = labelled_hidden(model, batch)
    head, wanted = labelled.head, labelled.targets
    if wanted.numel() == 0:
        zero = labelled.hidden.sum() * 0.0
        return LossResult(zero, 0, 0)
    if fusable(head):
        loss, correct = head_loss(head, labelled.hidden, wanted)
        return LossResult(loss, int(wanted.numel()), correct)
    logits = head(labelled.hidden).float()
    loss = F.cross_entropy(logits, wanted)
    with torch.no_grad():
        correct = int((logits.argmax(-1) == wanted).sum())
    return LossResult(loss, int(wanted.numel()), correct)
