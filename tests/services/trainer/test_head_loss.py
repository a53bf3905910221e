"""The fused, chunked LM head + cross-entropy gives what the unfused computation gives."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from services.trainer import head_loss as fused


def reference(head: torch.nn.Linear, hidden: torch.Tensor, targets: torch.Tensor):
    logits = head(hidden).float()
    return F.cross_entropy(logits, targets), int((logits.argmax(-1) == targets).sum())


@pytest.mark.parametrize(
    ("dtype", "trainable", "tolerance"),
    [(torch.float32, True, 1e-5), (torch.bfloat16, False, 2e-2)],
    ids=["fp32-full", "bf16-frozen"],
)
def test_loss_and_gradients_match_cross_entropy(
    dtype: torch.dtype, trainable: bool, tolerance: float
) -> None:
    torch.manual_seed(0)
    rows, width, vocab = 2 * fused.CHUNK_ROWS + 37, 32, 500  # three chunks, the last short
    head = torch.nn.Linear(width, vocab, bias=False).to(dtype).requires_grad_(trainable)
    source = torch.randn(rows, width)
    targets = torch.randint(0, vocab, (rows,))
    results = []
    for compute in (reference, fused.head_loss):
        head.zero_grad(set_to_none=True)
        hidden = source.to(dtype).requires_grad_(True)
        loss, correct = compute(head, hidden * 1.0, targets)
        (loss * 3.0).backward()  # a scaled loss, as the data-parallel recipe weights it
        results.append((loss.detach(), correct, hidden.grad, head.weight.grad))
    (loss_a, correct_a, grad_a, weight_a), (loss_b, correct_b, grad_b, weight_b) = results
    assert torch.allclose(loss_a, loss_b, atol=tolerance)
    assert abs(correct_a - correct_b) <= (0 if dtype == torch.float32 else 2)
    assert grad_b.dtype == dtype
    assert torch.allclose(grad_a.float(), grad_b.float(), atol=tolerance * 1e-2, rtol=tolerance)
    if trainable:
        assert torch.allclose(weight_a, weight_b, atol=1e-6, rtol=1e-4)
    else:
        assert weight_b is None


def test_without_gradients_it_only_measures() -> None:
    head = torch.nn.Linear(8, 50, bias=False)
    hidden, targets = torch.randn(300, 8), torch.randint(0, 50, (300,))
    with torch.no_grad():
        loss, correct = fused.head_loss(head, hidden, targets)
        expected, right = reference(head, hidden, targets)
    assert torch.allclose(loss, expected, atol=1e-5) and correct == right


def test_only_a_plain_linear_head_is_fused() -> None:
    assert fused.fusable(torch.nn.Linear(4, 8, bias=False))
    assert not fused.fusable(torch.nn.Linear(4, 8, bias=True))
    assert not fused.fusable(torch.nn.Embedding(8, 4))
