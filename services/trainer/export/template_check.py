"""One check that the chat template and the stop tokens agree wherever the exported model
meets them: the model's own chat template (what the trainer rendered its examples with and
the engines prompt it with), the GGUF's `tokenizer.chat_template` and `eos_token_id`, and
the Modelfile's TEMPLATE and `PARAMETER stop`.

A mismatch fails the export with the difference shown: a model prompted in a shape it never
saw in training, or one whose end-of-turn token Ollama does not stop at, answers garbage or
never stops, and nothing else would say why.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from services.trainer.export.chat_template import render
from services.trainer.export.modelfile import OllamaModel, bos_to_strip
from services.trainer.stops import stop_ids
from tuneloop_core.errors import InvalidRequestError

# Conversations longer and more varied than the probes the Modelfile's TEMPLATE was built
# from (chat_template.PROBES): a template the probes could not capture shows here.
SAMPLES: list[list[dict[str, str]]] = [
    [{"role": "user", "content": "公文的主旨應該怎麼寫？"}],
    [{"role": "system", "content": "你是公文助理。"}, {"role": "user", "content": "Hello"}],
    [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "a"},
        {"role": "assistant", "content": "b"},
        {"role": "user", "content": "c"},
        {"role": "assistant", "content": "d"},
        {"role": "user", "content": "e"},
    ],
    [
        {"role": "user", "content": "one"},
        {"role": "assistant", "content": "two"},
        {"role": "user", "content": "three"},
        {"role": "assistant", "content": "four"},
        {"role": "user", "content": "five"},
    ],
]


def _difference(got: str, expected: str) -> str:
    """Where two renderings part, with a little context around it."""
    at = next((i for i, (a, b) in enumerate(zip(got, expected, strict=False)) if a != b), None)
    at = min(len(got), len(expected)) if at is None else at
    start = max(0, at - 20)
    return f"at character {at}: {got[start : at + 40]!r} against {expected[start : at + 40]!r}"


def _gguf_fields(gguf: Path) -> dict[str, Any]:
    from gguf import GGUFReader

    reader = GGUFReader(gguf)
    wanted = ("tokenizer.chat_template", "tokenizer.ggml.eos_token_id")
    return {key: reader.fields[key].contents() for key in wanted if key in reader.fields}


def template_problems(model_dir: Path, gguf: Path, ollama: OllamaModel) -> list[str]:
    """Every disagreement found, in words (empty: all agree)."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    strip = bos_to_strip(tokenizer)
    problems: list[str] = []
    for messages in SAMPLES:
        if not ollama.pieces.supports_system and messages[0]["role"] == "system":
            continue
        expected = str(
            tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        )
        if strip and expected.startswith(strip):
            expected = expected[len(strip) :]
        got = render(ollama.pieces, messages)
        if got != expected:
            roles = "/".join(m["role"] for m in messages)
            problems.append(
                f"the Modelfile's TEMPLATE renders a {roles} conversation unlike the model's "
                f"chat template, {_difference(got, expected)}"
            )
    fields = _gguf_fields(gguf)
    if fields.get("tokenizer.chat_template") != tokenizer.chat_template:
        problems.append("the GGUF's tokenizer.chat_template is not the model's chat template")
    eos_ids = stop_ids(model_dir, tokenizer)
    gguf_eos = fields.get("tokenizer.ggml.eos_token_id")
    if gguf_eos is not None and int(gguf_eos) not in eos_ids:
        problems.append(
            f"the GGUF's eos_token_id is {int(gguf_eos)}, the model stops at {sorted(eos_ids)}"
        )
    if tokenizer.eos_token and str(tokenizer.eos_token) not in ollama.stop:
        problems.append(
            f"the Modelfile does not stop at the model's end token {tokenizer.eos_token!r}"
        )
    return problems


def check_templates(model_dir: Path, gguf: Path, ollama: OllamaModel) -> None:
    """Fail the export, with every difference, when the template or stop tokens disagree."""
    problems = template_problems(model_dir, gguf, ollama)
    if problems:
        raise InvalidRequestError(
            "The exported model would be prompted or stopped unlike the model it came from: "
            + "; ".join(problems),
            param="model",
            code="template_mismatch",
        )
