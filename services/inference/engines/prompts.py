"""Turning a GenerationRequest into prompt token ids, the same way for every engine: chat
turns are rendered with the model's chat template (which carries its own special tokens);
a raw prompt is tokenized as-is with the tokenizer's usual special tokens."""

from __future__ import annotations

from typing import Any

from services.inference.engines.base import GenerationRequest
from tuneloop_core.errors import InvalidRequestError


def render_chat(tokenizer: Any, request: GenerationRequest) -> str:
    if getattr(tokenizer, "chat_template", None) is None:
        raise InvalidRequestError(
            "this model has no chat template; use /v1/completions with a raw prompt",
            param="messages",
        )
    turns = [{"role": t.role, "content": t.content} for t in request.messages]
    text: str = tokenizer.apply_chat_template(turns, add_generation_prompt=True, tokenize=False)
    return text


def prompt_token_ids(tokenizer: Any, request: GenerationRequest) -> list[int]:
    if request.messages:
        ids = tokenizer(render_chat(tokenizer, request), add_special_tokens=False)["input_ids"]
    elif request.prompt is not None:
        ids = tokenizer(request.prompt)["input_ids"]
    else:
        raise InvalidRequestError("a prompt or messages are required", param="prompt")
    return [int(i) for i in ids]


def eos_token_ids(tokenizer: Any, generation_config: Any) -> set[int]:
    """Every token that ends a turn: the generation config's and the tokenizer's EOS."""
    ids: set[int] = set()
    configured = getattr(generation_config, "eos_token_id", None)
    if isinstance(configured, int):
        ids.add(configured)
    elif configured:
        ids.update(int(i) for i in configured)
    if tokenizer.eos_token_id is not None:
        ids.add(int(tokenizer.eos_token_id))
    return ids
