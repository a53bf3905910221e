"""bf16 vs float32 on this CPU, natively and as an AVX2-only host would run them.

Why: vLLM-CPU took the model's bf16 on an AVX2-only host, where torch emulates bf16, and the
CI demo's likelihood scoring ran 4x slower than float32 (tuneloop_core/hardware.py). This
prints, per ISA, SmolLM2-135M-Instruct's time to score 16 prompts with every position's
log-softmax (what `/v1/completions` echo + logprobs computes) in each dtype, one torch
thread as vLLM-CPU's worker gets here, and the dtype `auto` picks there. The AVX2 rows run
in a child with `ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2`, which caps torch's and
oneDNN's kernels as an AVX2-only CPU would (no bf16 instructions).

    .venv/bin/python bench/cpu_dtype.py [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

from _common import ROOT, base_model, loadavg, machine, say, show

AVX2 = {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2"}
TEXT = (
    "公文是政府機關處理公務的文書，包括令、函、公告與書函。請問函的用途是什麼？答：函用於機關往復。"
)


def measure(rounds: int) -> dict[str, object]:
    """In this process: seconds per 16-prompt scoring pass, by dtype (best of `rounds`)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from tuneloop_core.hardware import cpu_has_bf16

    torch.set_num_threads(1)
    path = base_model("smollm2", ROOT / ".cache")
    tokenizer = AutoTokenizer.from_pretrained(path)
    ids = tokenizer([f"{i}. {TEXT}" for i in range(16)], return_tensors="pt", padding=True)
    seconds: dict[str, float] = {}
    for dtype in (torch.bfloat16, torch.float32):
        model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype).eval()
        best = float("inf")
        with torch.inference_mode():
            model(**{k: v[:2] for k, v in ids.items()})  # warm-up
            for _ in range(rounds):
                started = time.perf_counter()
                logits = model(**ids).logits
                torch.log_softmax(logits.float(), dim=-1)
                best = min(best, time.perf_counter() - started)
        seconds[str(dtype).removeprefix("torch.")] = best
    return {
        "capability": torch.backends.cpu.get_cpu_capability(),
        "auto": "bfloat16" if cpu_has_bf16() else "float32",
        "tokens": int(ids["attention_mask"].sum()),
        **seconds,
    }


def child(env: dict[str, str], rounds: int) -> dict[str, object]:
    run = subprocess.run(
        [sys.executable, __file__, "--child", "--rounds", str(rounds)],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=True,
    )
    return dict(json.loads(run.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.rounds)))
        return
    say(f"machine: {machine()}")
    rows = []
    for label, env in (("native", {}), ("AVX2 (capped)", AVX2)):
        got = child(env, args.rounds)
        bf16, fp32 = float(got["bfloat16"]), float(got["float32"])  # type: ignore[arg-type]
        chosen = bf16 if got["auto"] == "bfloat16" else fp32
        rows.append(
            (
                label,
                got["capability"],
                got["tokens"],
                f"{bf16:.2f}",
                f"{fp32:.2f}",
                f"{bf16 / fp32:.2f}",
                got["auto"],
                f"{min(bf16, fp32) / chosen:.2f}",
            )
        )
    show(
        "16 prompts scored (forward + log-softmax), seconds, best of rounds, 1 thread",
        [
            "ISA",
            "torch capability",
            "tokens",
            "bf16 s",
            "fp32 s",
            "bf16/fp32",
            "auto picks",
            "fastest/picked (1.00 = right)",
        ],
        rows,
    )
    say(f"load after: {loadavg()}")


if __name__ == "__main__":
    main()
