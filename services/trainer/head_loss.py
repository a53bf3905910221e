"""The LM head and cross-entropy in one pass over chunks of rows, gradient included.

Projecting N labelled positions onto a 49k vocabulary makes (N, V) logits; computing
log-softmax, the loss and, in the backward, the gradient of that tensor one full pass
after another is memory-bound work over hundreds of MB (in fp32, plus the dtype copies).
Here each chunk of rows is projected, reduced to its loss and turned into its gradient
(softmax minus the one-hot target) while it is still in cache; only the gradient with
respect to the hidden states (N × hidden) is kept for the backward. The chunks' (rows, V)
logits never exist all at once, which also bounds memory for large batches.
"""

from __future__ import annotations

from typing import Any

import torch

CHUNK_ROWS = 128


class _HeadLoss(torch.autograd.Function):
    @staticmethod
    def forward(
        ctx: Any, hidden: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        with torch.autocast(hidden.device.type, enabled=False):  # dtypes chosen here
            return _HeadLoss._chunks(ctx, hidden, weight, targets)

    @staticmethod
    def _chunks(
        ctx: Any, hidden: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        rows = hidden.shape[0]
        want_hidden, want_weight = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        compute = weight.dtype
        grad_hidden = torch.empty_like(hidden) if want_hidden else None
        grad_weight = torch.zeros_like(weight, dtype=torch.float32) if want_weight else None
        total = torch.zeros((), dtype=torch.float32, device=hidden.device)
        correct = torch.zeros((), dtype=torch.long, device=hidden.device)
        for start in range(0, rows, CHUNK_ROWS):
            h = hidden[start : start + CHUNK_ROWS].to(compute)
            t = targets[start : start + CHUNK_ROWS]
            logits = (h @ weight.T).float()
            lse = torch.logsumexp(logits, dim=-1)
            picked = logits.gather(1, t[:, None]).squeeze(1)
            total += (lse - picked).sum()
            correct += (logits.argmax(-1) == t).sum()
            if grad_hidden is None and grad_weight is None:
                continue
            grad = logits.sub_(lse[:, None]).exp_()  # softmax, in place of the logits
            grad[torch.arange(len(t), device=t.device), t] -= 1.0
            grad = grad.div_(rows).to(compute)  # of the mean over all rows
            if grad_hidden is not None:
                grad_hidden[start : start + CHUNK_ROWS] = (grad @ weight).to(hidden.dtype)
            if grad_weight is not None:
                grad_weight += (grad.T @ h).float()
        ctx.save_for_backward(grad_hidden, grad_weight)
        ctx.weight_dtype = weight.dtype
        ctx.mark_non_differentiable(correct)
        return total / rows, correct

    @staticmethod
    def backward(
        ctx: Any, grad_loss: torch.Tensor, _grad_correct: Any
    ) -> tuple[torch.Tensor | None, torch.Tensor | None, None]:
        grad_hidden, grad_weight = ctx.saved_tensors
        return (
            grad_hidden * grad_loss.to(grad_hidden.dtype) if grad_hidden is not None else None,
            (grad_weight * grad_loss).to(ctx.weight_dtype) if grad_weight is not None else None,
            None,
        )


def fusable(head: Any) -> bool:
    """A plain linear head without bias (a LoRA-wrapped or quantized head is not)."""
    return type(head) is torch.nn.Linear and head.bias is None


def head_loss(head: torch.nn.Linear, hidden: Any, targets: Any) -> tuple[Any, int]:
    """Mean cross-entropy of `head(hidden)` against `targets` and the count of rows whose
    argmax is the target; the same values and gradients as `F.cross_entropy` on the
    logits computed in the head's dtype, then cast to fp32."""
    loss, correct = _HeadLoss.apply(hidden, head.weight, targets)  # type: ignore[no-untyped-call]
    return loss, int(correct)
