"""The Ollama Modelfile of an export: FROM, TEMPLATE (from the chat template), SYSTEM,
PARAMETER stop / temperature / top_p / num_ctx — and the same as an `/api/create` body.

A GGUF imported without its template answers garbage: Ollama would wrap prompts in its own
default, which the model never saw in training.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from services.trainer.export.chat_template import TemplatePieces, go_template, probe
from tuneloop_core.errors import InvalidRequestError

DEFAULT_TEMPERATURE = 0.7
DEFAULT_TOP_P = 0.9
MAX_NUM_CTX = 4096  # tokens; Ollama allocates the KV cache for all of it


@dataclass(frozen=True)
class OllamaModel:
    gguf_name: str  # file name next to the Modelfile
    template: str  # Go template
    system: str | None
    stop: list[str]
    parameters: dict[str, Any] = field(default_factory=dict)  # temperature, top_p, num_ctx
    pieces: TemplatePieces = field(default_factory=TemplatePieces)  # what TEMPLATE replays

    def modelfile(self) -> str:
        lines = [f"FROM ./{self.gguf_name}", f'TEMPLATE """{self.template}"""']
        if self.system:
            lines.append(f'SYSTEM """{self.system}"""')
        lines += [f"PARAMETER stop {json.dumps(s)}" for s in self.stop]
        lines += [f"PARAMETER {k} {v}" for k, v in self.parameters.items()]
        return "\n".join(lines) + "\n"

    def create_body(self, name: str, digest: str) -> dict[str, Any]:
        """Body of Ollama's `POST /api/create` for a GGUF uploaded as blob `digest`."""
        body: dict[str, Any] = {
            "model": name,
            "files": {self.gguf_name: digest},
            "template": self.template,
            "parameters": {**self.parameters, "stop": self.stop},
        }
        if self.system:
            body["system"] = self.system
        return body


def _stops(tokenizer: Any, pieces: TemplatePieces) -> list[str]:
    """Special tokens that close an answer or open the next turn, and the EOS token."""
    after_answer = pieces.between.get(("assistant", "user"), "") + pieces.end.get("assistant", "")
    specials = [str(t) for t in tokenizer.all_special_tokens]
    specials += [str(t) for t in getattr(tokenizer, "added_tokens_decoder", {}).values()]
    found = [t for t in dict.fromkeys(specials) if t and t in after_answer]
    eos = tokenizer.eos_token
    return list(dict.fromkeys([*found, *([str(eos)] if eos else [])]))


def bos_to_strip(tokenizer: Any) -> str | None:
    """The BOS text a chat template writes that llama.cpp and Ollama add themselves."""
    bos = tokenizer.bos_token_id
    adds = bos is not None and tokenizer("a")["input_ids"][:1] == [bos]
    return str(tokenizer.bos_token) if adds else None


def build_ollama_model(
    model_dir: Path, gguf_name: str, system: str | None, context_length: int | None
) -> OllamaModel:
    from transformers import AutoTokenizer, GenerationConfig

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    template = tokenizer.chat_template
    if not isinstance(template, str) or not template:
        raise InvalidRequestError(
            "the model has no chat template, so Ollama would not know how to prompt it",
            param="model",
            code="no_chat_template",
        )
    pieces = probe(tokenizer, template, strip_bos=bos_to_strip(tokenizer))
    try:
        generation = GenerationConfig.from_pretrained(model_dir)
        temperature = generation.temperature if generation.do_sample else None
        top_p = generation.top_p if generation.do_sample else None
    except OSError:
        temperature = top_p = None
    parameters = {
        "temperature": temperature or DEFAULT_TEMPERATURE,
        "top_p": top_p or DEFAULT_TOP_P,
        "num_ctx": min(context_length or MAX_NUM_CTX, MAX_NUM_CTX),
    }
    return OllamaModel(
        gguf_name=gguf_name,
        template=go_template(pieces),
        system=system if system and pieces.supports_system else None,
        stop=_stops(tokenizer, pieces),
        parameters=parameters,
        pieces=pieces,
    )
