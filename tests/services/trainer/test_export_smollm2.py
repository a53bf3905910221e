"""SmolLM2-135M-Instruct (real weights) exported to Q4_K_M answers an English question
sensibly through llama.cpp, with its tokenizer recognised by llama.cpp (no override) and a
drift report."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.trainer.export.pipeline import run_export
from services.trainer.export.settings import ExportSettings
from services.trainer.export.spec import ExportSpec
from support.smollm2 import NAME, pulled_smollm2

pytestmark = pytest.mark.slow


async def test_smollm2_q4_k_m_answers_sensibly(tmp_path: Path) -> None:
    spec = ExportSpec(
        model=NAME,
        base_model=NAME,
        base_path=str(pulled_smollm2()),
        adapter_path="",
        quantization="q4_K_M",
        ollama_model="",
        system="",
        prompts=[
            "What color is the sky on a clear day?",
            "How many days are in a week?",
            "What is the opposite of hot?",
        ],
        dataset_path="",
        pre_tokenizer="",  # SmolLM2's tokenizer must be one llama.cpp knows
        context_length=8192,
    )
    steps: list[str] = []

    async def progress(step: str, message: str) -> None:
        steps.append(message)

    out = await run_export(spec, ExportSettings(verify_max_tokens=24), tmp_path, progress)
    result = out.result
    assert result["pre_tokenizer_override"] is None
    assert result["tokenization"]["matched"] == result["tokenization"]["texts"]
    drift = result["drift"]
    answers = [e["quantized"] for e in drift["examples"]]
    assert "blue" in answers[0].lower(), answers
    assert "7" in answers[1] or "seven" in answers[1].lower(), answers
    assert "cold" in answers[2].lower(), answers
    assert drift["rouge_l_vs_full_precision"] > 20, drift
    assert 'PARAMETER stop "<|im_end|>"' in out.modelfile.read_text()
