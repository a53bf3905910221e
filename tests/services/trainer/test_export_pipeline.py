"""The export pipeline on tiny local models (a Llama and a Qwen2, self-trained tokenizers):
merge, llama.cpp's converter, quantisation, the Modelfile, the drift check and an Ollama
import into a server that implements Ollama's blob and create endpoints."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from safetensors.torch import load_file

from services.trainer.export.convert import convert_to_gguf
from services.trainer.export.merge import merge_model
from services.trainer.export.pipeline import ExportOutput, run_export
from services.trainer.export.quantize import quantize_gguf
from services.trainer.export.settings import ExportSettings
from services.trainer.export.spec import ExportSpec
from support.fake_ollama import OllamaState, fake_ollama
from support.tiny_model import build_tiny_adapter, build_tiny_model
from support.tiny_qwen2 import build_tiny_qwen2
from tuneloop_core.errors import InvalidRequestError
from tuneloop_core.quantization import LADDER

pytestmark = pytest.mark.slow  # each export starts llama.cpp's converter (seconds each)
PROMPTS = ["Hello world", "公文的主旨應該怎麼寫？", "The quick brown fox"]


def spec_for(base: Path, adapter: Path | None, quantization: str, **extra: object) -> ExportSpec:
    fields: dict[str, object] = {
        "model": f"ft:tiny:acme:x:ftjob-1:{quantization}" if adapter else "tiny",
        "base_model": "tiny",
        "base_path": str(base),
        "adapter_path": str(adapter or ""),
        "quantization": quantization,
        "ollama_model": "",
        "system": "",
        "prompts": PROMPTS,
        "dataset_path": "",
        "pre_tokenizer": "gpt-2",  # the self-trained tokenizer's hash is unknown to llama.cpp
        "context_length": 256,
        **extra,
    }
    return ExportSpec(**fields)  # type: ignore[arg-type]


async def export(spec: ExportSpec, out: Path, settings: ExportSettings) -> ExportOutput:
    steps: list[str] = []

    async def progress(step: str, message: str) -> None:
        steps.append(step)

    result = await run_export(spec, settings, out, progress)
    assert {"merge", "convert", "quantize", "modelfile", "verify"} <= set(steps)
    return result


def file_type(path: Path) -> int:
    from gguf import GGUFReader  # PyPI's gguf reads any GGUF; this process never converts

    field = GGUFReader(path).fields["general.file_type"]
    return int(field.parts[field.data[0]][0])


@pytest.fixture(scope="module")
def llama(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("export-llama")
    base = build_tiny_model(root / "base")
    return base, build_tiny_adapter(base, root / "adapter")


@pytest.fixture(scope="module")
def ollama() -> Iterator[tuple[str, OllamaState]]:
    with fake_ollama() as server:
        yield server


def test_merge_changes_the_weights(llama: tuple[Path, Path], tmp_path: Path) -> None:
    base, adapter = llama
    merged = merge_model(str(base), str(adapter), tmp_path / "merged")
    before = load_file(base / "model.safetensors")
    after = load_file(merged.path / "model.safetensors")
    changed = [k for k in before if k in after and not before[k].equal(after[k])]
    assert any("q_proj" in k for k in changed) and any("down_proj" in k for k in changed)
    assert not any("lora" in k for k in after)  # merged, not stacked
    assert (merged.path / "tokenizer.json").is_file() and merged.chat_template


@pytest.mark.parametrize("architecture", ["llama", "qwen2"])
async def test_f16_gguf_greedy_equals_hf_and_q4_k_m_loads(
    architecture: str, llama: tuple[Path, Path], tmp_path: Path
) -> None:
    if architecture == "llama":
        base, adapter = llama
    else:
        base = build_tiny_qwen2(tmp_path / "qwen2")
        adapter = build_tiny_adapter(base, tmp_path / "qwen2-adapter")
    # Random weights leave near-ties between logits; the longer a greedy run, the likelier
    # F16 rounding flips one. 16 tokens still compare whole answers of a tiny model.
    settings = ExportSettings(verify_max_tokens=16)
    out = await export(spec_for(base, adapter, "f16"), tmp_path / "f16", settings)
    drift = out.result["drift"]
    assert drift["greedy_identical"] == 100.0, (drift["greedy_prefix_agreement"], drift["examples"])
    assert out.result["tokenization"]["matched"] == out.result["tokenization"]["texts"]
    assert out.result["pre_tokenizer_override"] == "gpt-2"
    assert file_type(out.gguf) == 1

    q4 = tmp_path / "model.q4_K_M.gguf"
    quantize_gguf(out.gguf, q4, "q4_K_M")
    assert file_type(q4) == 15
    from llama_cpp import Llama

    llm = Llama(model_path=str(q4), n_ctx=128, verbose=False)
    try:
        tokens = llm.generate(llm.tokenize(b"Hello"), temp=0.0)
        assert len([next(tokens) for _ in range(5)]) == 5  # it generates
    finally:
        llm.close()


async def test_q4_k_m_export_with_ollama_import(
    llama: tuple[Path, Path], tmp_path: Path, ollama: tuple[str, OllamaState]
) -> None:
    url, received = ollama
    base, adapter = llama
    settings = ExportSettings(ollama_url=url)
    spec = spec_for(base, adapter, "q4_K_M", system="你是公文助理。", ollama_model="tiny-gongwen")
    out = await export(spec, tmp_path / "q4", settings)
    assert file_type(out.gguf) == 15
    assert out.result["gguf"]["sha256"] == hashlib.sha256(out.gguf.read_bytes()).hexdigest()
    assert not (tmp_path / "q4" / "work").exists()  # the float32 merge is cleaned up

    modelfile = out.modelfile.read_text()
    assert modelfile.startswith(f'FROM ./{out.gguf.name}\nTEMPLATE """')
    assert 'SYSTEM """你是公文助理。"""' in modelfile
    assert 'PARAMETER stop "<|im_end|>"' in modelfile
    assert "PARAMETER num_ctx 256" in modelfile
    assert out.result["ollama_create_command"] == "ollama create tiny-gongwen -f Modelfile"

    assert out.result["ollama"]["listed"] is True
    created = received.created["tiny-gongwen:latest"]
    digest = created["files"][out.gguf.name]
    assert digest == f"sha256:{out.result['gguf']['sha256']}"
    assert received.blobs[digest] == out.gguf.read_bytes()
    assert created["system"] == "你是公文助理。"
    assert "<|im_start|>assistant" in created["template"]
    assert created["parameters"]["stop"] == ["<|im_start|>", "<|im_end|>"]

    drift = out.result["drift"]
    assert drift["prompts"] == len(PROMPTS) and 0 <= drift["greedy_prefix_agreement"] <= 100


def test_the_merge_answers_as_base_plus_adapter(llama: tuple[Path, Path], tmp_path: Path) -> None:
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    base, adapter = llama
    merged = merge_model(str(base), str(adapter), tmp_path / "merged")
    ids = torch.tensor([[1, 5, 9, 12, 7, 3], [2, 4, 6, 8, 10, 11]])
    with torch.inference_mode():
        plain = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32)
        before = plain(ids).logits
        stacked = PeftModel.from_pretrained(plain, str(adapter)).eval()
        expected = stacked(ids).logits
        got = AutoModelForCausalLM.from_pretrained(merged.path, dtype=torch.float32)(ids).logits
    assert (expected - before).abs().max() > 1e-2  # the adapter changes the answers
    assert (got - expected).abs().max() < 1e-3


async def test_auto_climbs_the_ladder_to_the_last_rung_when_none_is_within_budget(
    llama: tuple[Path, Path], tmp_path: Path
) -> None:
    base, adapter = llama
    strict = ExportSettings(verify_max_tokens=8, min_greedy_identical=101.0)  # unreachable
    out = await export(spec_for(base, adapter, "auto"), tmp_path / "auto", strict)
    result = out.result
    assert [r["quantization"] for r in result["rungs"]] == list(LADDER)
    assert not any(r["within_budget"] for r in result["rungs"])
    assert result["quantization"] == "q8_0" and result["requested_quantization"] == "auto"
    assert file_type(out.gguf) == 7 and out.gguf.name.endswith(".q8_0.gguf")
    assert sorted(p.name for p in out.gguf.parent.glob("*.gguf")) == [out.gguf.name]
    assert (
        result["drift"]["flagged"] is True
        and "no type from q4_K_M to q8_0 stayed within" in result["drift"]["advice"]
    )
    assert "none within the drift budget" in result["choice"] and "kept q8_0" in result["choice"]
    assert result["ollama_model"].endswith(":q8_0")
    sizes = [r["bytes"] for r in result["rungs"]]
    assert sizes[0] < sizes[-1]  # q4_K_M is the smallest file tried


async def test_auto_keeps_the_first_rung_within_budget(
    llama: tuple[Path, Path], tmp_path: Path
) -> None:
    base, adapter = llama
    lenient = ExportSettings(verify_max_tokens=8, min_greedy_identical=0.0)
    out = await export(spec_for(base, adapter, "auto"), tmp_path / "auto", lenient)
    result = out.result
    assert [r["quantization"] for r in result["rungs"]] == ["q4_K_M"]
    assert result["rungs"][0]["within_budget"] and result["quantization"] == "q4_K_M"
    assert result["rungs"][0]["bytes"] == out.gguf.stat().st_size
    assert result["drift"]["flagged"] is False and result["drift"]["advice"] is None
    assert "kept q4_K_M" in result["choice"] and "the smallest within" in result["choice"]


# Marks every message after the third: the Modelfile's TEMPLATE, built from conversations
# of at most three messages, cannot replay it, so Ollama would prompt the model unlike
# training did from the fourth message on.
LATE_TURNS_TEMPLATE = (
    "{% for message in messages %}{% if loop.index > 3 %}(late) {% endif %}"
    "<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


async def test_a_template_the_modelfile_cannot_replay_fails_the_export(
    tmp_path: Path,
) -> None:
    from transformers import AutoTokenizer

    base = build_tiny_model(tmp_path / "base")
    tokenizer = AutoTokenizer.from_pretrained(base)
    tokenizer.chat_template = LATE_TURNS_TEMPLATE
    tokenizer.save_pretrained(base)
    steps: list[str] = []

    async def progress(step: str, message: str) -> None:
        steps.append(step)

    with pytest.raises(InvalidRequestError) as caught:
        await run_export(spec_for(base, None, "auto"), ExportSettings(), tmp_path / "out", progress)
    error = caught.value
    assert error.code == "template_mismatch" and error.param == "model"
    assert "system/user/assistant/user/assistant/user conversation" in error.message
    assert "(late)" in error.message  # the difference is shown
    assert "quantize" not in steps  # it failed before any quantisation


def test_unknown_pre_tokenizer_needs_an_explicit_override(
    llama: tuple[Path, Path], tmp_path: Path
) -> None:
    base, _ = llama
    with pytest.raises(InvalidRequestError) as caught:
        convert_to_gguf(ExportSettings().converter_dir, base, tmp_path / "x.gguf")
    assert caught.value.code == "unknown_pre_tokenizer"
    assert "pre_tokenizer" in caught.value.message


async def test_an_architecture_llama_cpp_cannot_convert(tmp_path: Path) -> None:
    from transformers import OPTConfig, OPTForCausalLM

    base = tmp_path / "opt"
    config = OPTConfig(
        vocab_size=64, hidden_size=32, num_hidden_layers=1, ffn_dim=64, num_attention_heads=2
    )
    OPTForCausalLM(config).save_pretrained(base)
    with pytest.raises(InvalidRequestError) as caught:
        await export(spec_for(base, None, "q4_K_M"), tmp_path / "out", ExportSettings())
    assert "OPTForCausalLM" in caught.value.message
    assert caught.value.code == "unsupported_architecture"
