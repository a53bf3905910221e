"""Per-token log-probabilities through a frozen LM head, in one chunked pass.

DPO needs, for each labelled position, log p(target) — not a mean loss — so each sequence
can sum its own. Projecting N positions onto a 49k vocabulary makes (N, V) logits; here
each chunk of rows is projected, reduced to its targets' log-probabilities and, while its
softmax is still in cache, to the one thing the backward needs: the gradient of
log p(target) with respect to the hidden state, `W[target] − softmaxᵀ·W` (N × hidden).
The backward then scales that by each row's incoming gradient. This is the DPO counterpart
of `services.trainer.head_loss` and needs the head to be frozen (LoRA never trains it), as
the head's own gradient would depend on the incoming gradient, unknown in the forward.
"""

from __future__ import annotations

from typing import Any

import torch

from services.trainer.head_loss import CHUNK_ROWS


class _HeadLogps(torch.autograd.Function):
    @staticmethod
    def forward(
        ctx: Any, hidden: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor
    ) -> torch.Tensor:
        with torch.autocast(hidden.device.type, enabled=False):  # dtypes chosen here
            return _HeadLogps._chunks(ctx, hidden, weight, targets)

    @staticmethod
    def _chunks(
        ctx: Any, hidden: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor
    ) -> torch.Tensor:
        rows = hidden.shape[0]
        compute = weight.dtype
        want_hidden = ctx.needs_input_grad[0]
        direction = torch.empty_like(hidden) if want_hidden else None
        out = torch.empty(rows, dtype=torch.float32, device=hidden.device)
        for start in range(0, rows, CHUNK_ROWS):
            h = hidden[start : start + CHUNK_ROWS].to(compute)
            t = targets[start : start + CHUNK_ROWS]
            logits = (h @ weight.T).float()
            lse = torch.logsumexp(logits, dim=-1)
            out[start : start + CHUNK_ROWS] = logits.gather(1, t[:, None]).squeeze(1) - lse
            if direction is None:
                continue
            probs = logits.sub_(lse[:, None]).exp_().to(compute)  # softmax, in place
            expected = probs @ weight  # E[W] under the softmax: (rows, hidden)
            direction[start : start + CHUNK_ROWS] = (weight[t] - expected).to(hidden.dtype)
        ctx.save_for_backward(direction)
        return out

    @staticmethod
    def backward(ctx: Any, grad_out: torch.Tensor) -> tuple[torch.Tensor | None, None, None]:
        (direction,) = ctx.saved_tensors
        if direction is None:
            return None, None, None
        return direction * grad_out[:, None].to(direction.dtype), None, None


def frozen_fusable(head: Any) -> bool:
    """A plain linear head without bias whose weight does not train."""
    return type(head) is torch.nn.Linear and head.bias is None and not head.weight.requires_grad


def head_logps(head: Any, hidden: Any, targets: Any) -> Any:
    """log p(targets) under `head(hidden)` for each row (fp32, shape (N,)): the values and
    gradients of `log_softmax` on the logits computed in the head's dtype, then cast to
    fp32; fused for a frozen plain head (`frozen_fusable`), logits in full otherwise."""
    if frozen_fusable(head):
        result: torch.Tensor = _HeadLogps.apply(hidden, head.weight, targets)  # type: ignore[no-untyped-call]
        return result
    logits = head(hidden).float()
    return torch.log_softmax(logits, dim=-1).gather(1, targets[:, None]).squeeze(1)
