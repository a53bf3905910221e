"""Merge a LoRA adapter into its base model in full precision (float32), into a normal
model directory with the tokenizer and its chat template, ready for llama.cpp's converter.

Merging in float32 keeps the adapter's small deltas; rounding to 16 bits happens once, in
the GGUF, the same as for a base model.
"""

from __future__ import annotations

import json
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path

from tuneloop_core.errors import InvalidRequestError

log = logging.getLogger(__name__)
# Files besides weights and tokenizer worth carrying into the merged directory.
EXTRA_FILES = ("generation_config.json", "chat_template.jinja", "chat_template.json")


@dataclass(frozen=True)
class Merged:
    path: Path
    architecture: str
    adapter: bool
    chat_template: str | None


def _tokenizer_source(base_path: str, adapter_path: str) -> str:
    """The adapter's own tokenizer when training saved one (it may carry added tokens or a
    new chat template); the base's otherwise."""
    if adapter_path and (Path(adapter_path) / "tokenizer_config.json").is_file():
        return adapter_path
    return base_path


def merge_model(base_path: str, adapter_path: str, out_dir: Path) -> Merged:
    """Write base (+ adapter, merged) to `out_dir`; blocking, seconds for a ~100M model."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if adapter_path and not (Path(adapter_path) / "adapter_config.json").is_file():
        raise InvalidRequestError(
            f"the adapter directory {adapter_path} has no adapter_config.json", param="model"
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    model = AutoModelForCausalLM.from_pretrained(base_path, dtype=torch.float32)
    if adapter_path:
        from peft import PeftModel

        peft_model = PeftModel.from_pretrained(model, adapter_path)
        model = peft_model.merge_and_unload()
        log.info("merged adapter %s into %s", adapter_path, base_path)
    model.save_pretrained(out_dir, safe_serialization=True)
    tokenizer = AutoTokenizer.from_pretrained(_tokenizer_source(base_path, adapter_path))
    tokenizer.save_pretrained(out_dir)
    base_dir = Path(base_path)
    for name in EXTRA_FILES:
        if (base_dir / name).is_file() and not (out_dir / name).exists():
            shutil.copy2(base_dir / name, out_dir / name)
    config = json.loads((out_dir / "config.json").read_text())
    template = tokenizer.chat_template if isinstance(tokenizer.chat_template, str) else None
    return Merged(
        path=out_dir,
        architecture=str((config.get("architectures") or ["?"])[0]),
        adapter=bool(adapter_path),
        chat_template=template,
    )
