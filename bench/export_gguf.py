"""Export SmolLM2-135M-Instruct to GGUF: wall time of merge + F16 GGUF + quantisation, and
the quantisation drift on the bundled 公文 held-out questions (ROUGE-L against their
reference answers, full precision vs the GGUF through llama.cpp). `auto` (the default
export) climbs q4_K_M → q5_K_M → q6_K → q8_0 and keeps the first within the drift budget;
every rung it tried is printed with its size and drift. Explicit types run beside it.

    .venv/bin/python bench/export_gguf.py   # --prompts 32 --tokens 48 --quant auto q4_K_M
    .venv/bin/python bench/export_gguf.py --adapter DIR   # merge a LoRA adapter too

Targets: the whole auto export ≤ 90 s (wheel already built); the kept file's drift ≤ 2
ROUGE-L points.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from _common import ROOT, loadavg, machine, say, show

from services.trainer.export.pipeline import run_export
from services.trainer.export.settings import ExportSettings
from services.trainer.export.spec import ExportSpec
from support.smollm2 import NAME, pulled_smollm2

HELDOUT = ROOT / "samples" / "gongwen" / "heldout.json"
TARGET_S = 90.0
TARGET_DRIFT = 2.0


def spec(quantization: str, adapter: str) -> ExportSpec:
    return ExportSpec(
        model=f"{NAME}-bench",
        base_model=NAME,
        base_path=str(pulled_smollm2()),
        adapter_path=adapter,
        quantization=quantization,
        ollama_model="",
        system="",
        prompts=[],
        dataset_path=str(HELDOUT),
        pre_tokenizer="",
        context_length=8192,
    )


async def one(quantization: str, args: argparse.Namespace, root: Path) -> list[object]:
    settings = ExportSettings(verify_prompts=args.prompts, verify_max_tokens=args.tokens)

    async def progress(step: str, message: str) -> None:
        say(f"  {quantization} · {step}: {message}")

    started = time.monotonic()
    out = await run_export(
        spec(quantization, args.adapter), settings, root / quantization, progress
    )
    wall = time.monotonic() - started
    t, d = out.result["timings"], out.result["drift"]
    if out.result["requested_quantization"] == "auto":
        show(
            f"auto: every rung tried ({wall:.1f} s in all, target ≤ {TARGET_S:.0f} s)",
            ["type", "GGUF MiB", "ROUGE-L lost", "greedy identical %", "within budget"],
            [
                [
                    r["quantization"],
                    f"{r['bytes'] / 2**20:.1f}",
                    "–" if r["rouge_l_drift"] is None else f"{r['rouge_l_drift']:+.2f}",
                    f"{r['greedy_identical']:.0f}",
                    "yes" if r["within_budget"] else "no",
                ]
                for r in out.result["rungs"]
            ],
        )
        say(f"  choice: {out.result['choice']}")
    build = t["merge_s"] + t["convert_s"] + t["quantize_s"]
    size = out.result["gguf"]["bytes"] / 2**20
    return [
        f"{quantization} → {out.result['quantization']}"
        if quantization == "auto"
        else quantization,
        f"{build:.1f}",
        f"{t['merge_s']:.1f} / {t['convert_s']:.1f} / {t['quantize_s']:.1f}",
        f"{t.get('verify_s', 0):.1f}",
        f"{wall:.1f}",
        f"{size:.1f}",
        f"{d['rouge_l_full']:.2f}",
        f"{d['rouge_l_quantized']:.2f}",
        f"{d['rouge_l_drift']:+.2f}",
        f"{d['greedy_identical']:.0f}",
        f"{d['greedy_prefix_agreement']:.0f}",
        "yes" if d["flagged"] else "no",
    ]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--prompts", type=int, default=32, help="held-out questions compared")
    parser.add_argument("--tokens", type=int, default=48, help="greedy tokens per answer")
    parser.add_argument("--quant", nargs="+", default=["auto", "q4_K_M"])
    parser.add_argument("--adapter", default="", help="a LoRA adapter directory to merge")
    args = parser.parse_args()
    say(f"machine: {machine()}")
    pulled_smollm2()
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-export-") as tmp:
        for quantization in args.quant:
            rows.append(await one(quantization, args, Path(tmp)))
    show(
        f"SmolLM2-135M export (targets: build ≤ {TARGET_S:.0f} s, drift ≤ {TARGET_DRIFT:g} "
        f"ROUGE-L points; {args.prompts} held-out 公文 questions, {args.tokens} greedy tokens)",
        [
            "type",
            "merge+GGUF+quant s",
            "merge / convert / quantize s",
            "drift check s",
            "total s",
            "GGUF MiB",
            "ROUGE-L full",
            "ROUGE-L GGUF",
            "drift (points)",
            "greedy identical %",
            "prefix agreement %",
            "flagged",
        ],
        rows,
    )
    say(f"load average at the end: {loadavg()}")


if __name__ == "__main__":
    asyncio.run(main())
