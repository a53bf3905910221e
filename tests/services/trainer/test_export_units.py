"""The fast parts of an export: quantisation names, the missing-converter error, chat
template → Ollama template, Modelfile, ROUGE-L, and the prompts the drift check uses."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from transformers import AutoTokenizer

from services.trainer.export.chat_template import go_template, probe, render
from services.trainer.export.convert import check_converter
from services.trainer.export.metrics import exact_match, prefix_agreement, rouge_l
from services.trainer.export.modelfile import build_ollama_model
from services.trainer.export.samples import DEFAULT_PROMPTS, load_samples
from support.tiny_model import build_tiny_model
from tuneloop_core.errors import InvalidRequestError, ServiceUnavailableError
from tuneloop_core.quantization import check_quantization, default_ollama_name

# A Llama-3 style template: BOS written by the template, headers per role, no system default.
LLAMA3 = (
    "{{ bos_token }}{% for m in messages %}<|start_header_id|>{{ m['role'] }}<|end_header_id|>"
    "\n\n{{ m['content'] }}<|eot_id|>{% endfor %}"
    "{% if add_generation_prompt %}<|start_header_id|>assistant<|end_header_id|>\n\n{% endif %}"
)
CONVERSATIONS = [
    [{"role": "user", "content": "hi"}],
    [{"role": "system", "content": "S"}, {"role": "user", "content": "q"}],
    [
        {"role": "user", "content": "a"},
        {"role": "assistant", "content": "b"},
        {"role": "user", "content": "c"},
    ],
]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("export-units") / "tiny")


def test_quantization_names() -> None:
    assert check_quantization("Q4_K_M") == "q4_K_M"
    assert check_quantization("f16") == "f16"
    assert check_quantization("AUTO") == "auto"
    with pytest.raises(InvalidRequestError) as caught:
        check_quantization("q2_K")
    assert caught.value.param == "quantization"
    assert "auto (the smallest of q4_K_M, q5_K_M, q6_K, q8_0 within the drift budget)" in (
        caught.value.message
    )
    assert "q4_K_M, q4_K_S, q5_K_M, q6_K, q8_0, f16" in caught.value.message


def test_a_missing_converter_says_how_to_install(tmp_path: Path) -> None:
    with pytest.raises(ServiceUnavailableError) as caught:
        check_converter(tmp_path)
    assert "make setup" in caught.value.message and str(tmp_path) in caught.value.message


@pytest.mark.parametrize("template", ["chatml", "llama3"])
def test_ollama_template_renders_like_the_chat_template(tiny: Path, template: str) -> None:
    tokenizer = AutoTokenizer.from_pretrained(tiny)
    jinja = tokenizer.chat_template if template == "chatml" else LLAMA3
    bos = tokenizer.bos_token if template == "llama3" else None
    pieces = probe(tokenizer, jinja, strip_bos=bos)
    for messages in CONVERSATIONS:
        expected = tokenizer.apply_chat_template(
            messages, chat_template=jinja, tokenize=False, add_generation_prompt=True
        )
        assert (bos or "") + render(pieces, messages) == expected
    go = go_template(pieces)
    assert go.startswith('{{ $prev := "" }}{{ range .Messages }}')
    assert go.count("{{ if") + go.count("{{ range") == go.count("{{ end }}")


def test_modelfile(tiny: Path) -> None:
    model = build_ollama_model(tiny, "tiny.q4_K_M.gguf", "Answer briefly.", 256)
    text = model.modelfile()
    assert text.splitlines()[0] == "FROM ./tiny.q4_K_M.gguf"
    assert 'SYSTEM """Answer briefly."""' in text
    assert model.stop == ["<|im_start|>", "<|im_end|>"]
    assert model.parameters == {"temperature": 0.7, "top_p": 0.9, "num_ctx": 256}
    body = model.create_body("tiny", "sha256:" + "0" * 64)
    assert body["files"] == {"tiny.q4_K_M.gguf": "sha256:" + "0" * 64}
    assert body["parameters"]["stop"] == model.stop and body["system"] == "Answer briefly."


def test_rouge_l_and_agreement() -> None:
    assert rouge_l("the cat sat", "the cat sat") == 100.0
    assert rouge_l("", "x") == 0.0
    assert round(rouge_l("公文主旨", "公文的主旨"), 1) == 88.9  # CJK: one word per character
    assert exact_match("Paris.", "paris") == 100.0
    assert prefix_agreement([1, 2, 3, 4], [1, 2, 9]) == 0.5


def test_samples_from_a_dataset(tmp_path: Path) -> None:
    data = tmp_path / "data.jsonl"
    rows = [
        {
            "messages": [
                {"role": "system", "content": "你是公文助理。"},
                {"role": "user", "content": f"q{i}"},
                {"role": "assistant", "content": f"a{i}"},
            ]
        }
        for i in range(3)
    ]
    data.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows))
    found = load_samples([], data, "", limit=2)
    assert found.dataset_system == "你是公文助理。"
    assert [s.reference for s in found.samples] == ["a0", "a1"]
    assert found.samples[0].messages[0] == {"role": "system", "content": "你是公文助理。"}
    fallback = load_samples([], None, "", limit=8)
    assert [s.messages[-1]["content"] for s in fallback.samples] == list(DEFAULT_PROMPTS)


def test_default_ollama_name() -> None:
    name = default_ollama_name("ft:smollm2-135m:acme:gongwen:ftjob-AbC", "q4_K_M")
    assert name == "smollm2-135m-acme-gongwen-ftjob-abc:q4_k_m"
