"""The token ids a model stops at: its tokenizer's EOS and its generation config's, as the
engines stop (transformers' generate, vLLM and llama.cpp read the same two places)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def stop_ids(model_dir: Path, tokenizer: Any) -> set[int]:
    from transformers import GenerationConfig

    ids = {tokenizer.eos_token_id} if tokenizer.eos_token_id is not None else set()
    try:
        eos = GenerationConfig.from_pretrained(model_dir).eos_token_id
    except OSError:
        eos = None
    ids |= set(eos if isinstance(eos, list) else [eos] if eos is not None else [])
    return {int(i) for i in ids}
