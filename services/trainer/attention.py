"""Attention over packed examples that computes only each example's own causal block.

A packed row holds several examples back to back. Masking the others out with a
block-diagonal mask still makes SDPA score every pair of positions in the row (and repeat
the grouped K/V heads to build it); here each example's span is attended on its own,
causally — short spans with transformers' eager attention, long ones with SDPA's flash
kernel (`EAGER_MAX`) — so the work is the sum of the examples' squares and no row-wide mask
is built. The spans come in through the model's forward keyword `segment_bounds`
(transformers passes extra keywords down to the attention function); without them the
whole row is one span, which is right for one example per row, padded on the right.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

SEGMENTS = "tuneloop_segments"
# (start, end), or (start, end, prefix_start, prefix_end) for a span that sees a prefix
Bounds = Sequence[tuple[int, ...]]
# Up to this length an example's attention runs as plain matmuls and softmax (transformers'
# eager attention), above it through SDPA's flash kernel. Measured on a 2-core EPYC (bf16,
# 9 query / 3 KV heads of 64, forward + backward): eager 0.9 vs flash 2.0 ms at 64 tokens,
# 1.5 vs 4.2 ms at 140, about even at 256 (6.0 vs 5.7), flash 2× faster at 1,024. Eager
# also keeps every example's L² attention weights for the backward (~6 bytes × heads × L²
# per layer): at 256 tokens that is still less than the rest of its activations.
EAGER_MAX = 256


@functools.lru_cache(maxsize=8)
def _causal_mask(length: int, dtype: Any, device: Any) -> Any:
    """The additive causal mask of the longest eager span (shorter spans take its top-left
    corner), built once per length, dtype and device instead of in every layer's call;
    only read, never written."""
    import torch

    mask = torch.full((length, length), torch.finfo(dtype).min, dtype=dtype, device=device)
    return mask.triu(1)[None, None]


@functools.lru_cache(maxsize=64)
def _prefixed_mask(seen: int, length: int, dtype: Any, device: Any) -> Any:
    """The additive mask of a span of `length` queries that sees `seen` prefix keys, then
    its own causally (built once per shape: every layer of a forward reuses it)."""
    import torch

    mask = torch.full((length, seen + length), torch.finfo(dtype).min, dtype=dtype, device=device)
    return mask.triu(seen + 1)[None, None]


def segment_attention(
    module: Any,
    query: Any,
    key: Any,
    value: Any,
    attention_mask: Any,
    segment_bounds: Bounds | None = None,
    **kwargs: Any,
) -> tuple[Any, None]:
    """transformers' attention-function signature: (batch, heads, length, dim) in,
    (batch, length, heads, dim) out."""
    import torch
    from transformers.integrations.sdpa_attention import sdpa_attention_forward
    from transformers.models.llama.modeling_llama import eager_attention_forward

    kwargs.pop("is_causal", None)
    bounds = segment_bounds or [(0, query.shape[2])]
    widths = [_width(span) for span in bounds]
    short = [
        end - start
        for (start, end, *_), width in zip(bounds, widths, strict=True)
        if width <= EAGER_MAX
    ]
    mask = _causal_mask(max(short), query.dtype, query.device) if short else None
    parts = []
    for span, width in zip(bounds, widths, strict=True):
        start, end = span[0], span[1]
        q, k, v = query[:, :, start:end], key[:, :, start:end], value[:, :, start:end]
        length = end - start
        if len(span) == 4:  # sees all of its prefix, then itself causally
            prefix = slice(span[2], span[3])
            k = torch.cat([key[:, :, prefix], k], dim=2)
            v = torch.cat([value[:, :, prefix], v], dim=2)
            seen = span[3] - span[2]
            if width <= EAGER_MAX:
                full = _prefixed_mask(seen, length, query.dtype, query.device)
                out = eager_attention_forward(module, q, k, v, full, **kwargs)[0]
            else:  # a boolean mask (True: attend): 1 byte per score
                allowed = torch.ones((length, width), dtype=torch.bool, device=query.device)
                full = allowed.tril(seen)[None, None]
                out = sdpa_attention_forward(module, q, k, v, full, **kwargs)[0]
        elif mask is not None and width <= EAGER_MAX:
            causal = mask[:, :, :length, :length]
            out = eager_attention_forward(module, q, k, v, causal, **kwargs)[0]
        else:
            out = sdpa_attention_forward(module, q, k, v, None, is_causal=True, **kwargs)[0]
        parts.append(out)
    return torch.cat(parts, dim=1) if len(parts) > 1 else parts[0], None


def _width(span: tuple[int, ...]) -> int:
    """The keys a span's queries see: its own positions and its prefix's."""
    return span[1] - span[0] + (span[3] - span[2] if len(span) == 4 else 0)


def register() -> str:
    """Makes the implementation known to transformers (idempotent); returns its name."""
    from transformers import AttentionInterface

    AttentionInterface.register(SEGMENTS, segment_attention)
    return SEGMENTS
