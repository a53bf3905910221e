"""Export SmolLM2-135M-Instruct to GGUF: wall time of merge + F16 GGUF + quantisation, and
the quantisation drift on the bundled 公文 held-out questions (ROUGE-L against their
reference answers, full precision vs the GGUF through llama.cpp). q4_K_M is measured
against q8_0 in the same run (the peer: what the drift advice points to).

    .venv/bin/python bench/export_gguf.py            # --prompts 16 --tokens 48 --quant q4_K_M q8_0
    .venv/bin/python bench/export_gguf.py --adapter DIR   # merge a LoRA adapter too

Targets: merge + GGUF + Q4_K_M ≤ 60 s (wheel already built); drift ≤ 2 ROUGE-L points.
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
TARGET_S = 60.0
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
    build = t["merge_s"] + t["convert_s"] + t["quantize_s"]
    size = out.result["gguf"]["bytes"] / 2**20
    return [
        quantization,
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
    parser.add_argument("--prompts", type=int, default=16, help="held-out questions compared")
    parser.add_argument("--tokens", type=int, default=48, help="greedy tokens per answer")
    parser.add_argument("--quant", nargs="+", default=["q4_K_M", "q8_0"])
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
