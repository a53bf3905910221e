"""The DPO objective: per-sequence log-probabilities of the answers, and the sigmoid loss.

A sequence's log-probability is the sum over its answer tokens (TRL's default; not the
mean), computed from the backbone's hidden states at the labelled positions only, through
the fused frozen head (`services.trainer.head_logps`), like SFT's loss.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from services.trainer.loss import labelled_hidden


def sequence_logps(model: Any, batch: dict[str, Any]) -> Any:
    """Sum of log p(answer token) per sequence, fp32, in the batch's sequence order
    (`preference.pair_batch`: chosen…, then rejected…). The model must use the segment
    attention (`services.trainer.attention`), which keeps a packed row's sequences apart."""
    import torch

    from services.trainer.head_logps import head_logps

    labelled = labelled_hidden(model, batch)
    sequence = batch["sequence_ids"][:, 1:][labelled.selected]
    per_token = head_logps(labelled.head, labelled.hidden, labelled.targets)
    count = int(batch["sequence_ids"].max()) + 1
    sums = torch.zeros(count, dtype=torch.float32, device=per_token.device)
    return sums.index_add(0, sequence, per_token)


@dataclass
class DpoResult:
    preference_loss: Any  # scalar tensor: the sigmoid loss, mean over the pairs
    chosen_rewards: Any  # (pairs,) β·(πc − ρc), detached
    rejected_rewards: Any  # (pairs,) β·(πr − ρr), detached
    sft_loss: Any = None  # scalar tensor: mean NLL of the chosen answers' tokens
    sft_weight: float = 0.0

    @property
    def loss(self) -> Any:
        """What training minimises: the preference loss, plus the weighted SFT loss."""
        if not self.sft_weight:
            return self.preference_loss
        return self.preference_loss + self.sft_weight * self.sft_loss

    def metrics(self) -> dict[str, float]:
        """Means over the pairs: the loss, the reward margin (chosen − rejected), the share
        of pairs whose chosen reward is the higher, and each reward."""
        margins = self.chosen_rewards - self.rejected_rewards
        return {
            "train_loss": float(self.loss.detach()),
            "reward_margin": float(margins.mean()),
            "reward_accuracy": float((margins > 0).float().mean()),
            "chosen_reward": float(self.chosen_rewards.mean()),
            "rejected_reward": float(self.rejected_rewards.mean()),
        }


def dpo_loss(
    policy_chosen: Any,
    policy_rejected: Any,
    reference_chosen: Any,
    reference_rejected: Any,
    beta: float,
    sft_weight: float = 0.0,
    chosen_tokens: int = 0,
) -> DpoResult:
    """−log σ(β·((πc − πr) − (ρc − ρr))), averaged over the pairs: TRL's DPOTrainer with
    `loss_type="sigmoid"` (its default, no label smoothing) on summed sequence log-probs.
    π are the policy's log-probs (with gradient), ρ the reference's (constants).

    With `sft_weight`, plus that weight × the mean NLL over the chosen answers' tokens
    (`chosen_tokens` of them): TRL's `loss_type=["sigmoid", "sft"]` with
    `loss_weights=[1, sft_weight]` (RPO). DPO alone can widen the margin by making the
    rejected answers unlikely while the preferred ones barely gain; the SFT term makes the
    model produce the preferred answers."""
    import torch.nn.functional as F

    chosen = policy_chosen - reference_chosen
    rejected = policy_rejected - reference_rejected
    loss = -F.logsigmoid(beta * (chosen - rejected)).mean()
    sft = -policy_chosen.sum() / max(1, chosen_tokens) if sft_weight else None
    return DpoResult(loss, beta * chosen.detach(), beta * rejected.detach(), sft, sft_weight)
