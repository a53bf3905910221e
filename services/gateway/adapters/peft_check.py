"""Is an unpacked archive a LoRA adapter Tuneloop can serve on a given base? Checked from
files alone, loading no weights: `adapter_config.json`, and the tensor shapes in the
safetensors headers of the adapter and of the base model.

A LoRA pair on a module of weight [out, in] is lora_A [r, in] and lora_B [out, r] (an
embedding's: lora_embedding_A [r, rows], lora_embedding_B [dim, r]); every targeted module
must exist in the base with those shapes, which is what "the same architecture" means here.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from safetensors import safe_open

from tuneloop_core.errors import InvalidRequestError

CONFIG = "adapter_config.json"
WEIGHTS = "adapter_model.safetensors"
# Suffixes of pickle-based weight files (torch.save / pickle), which run code when loaded.
PICKLE_SUFFIXES = frozenset({".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt"})
PEFT_PREFIX = "base_model.model."
LORA_KEY = re.compile(
    r"^(?P<module>.+)\.(?P<part>lora_A|lora_B|lora_embedding_A|lora_embedding_B)(\.[^.]+)?(\.weight)?$"
)
RANK_SETTING = "TUNELOOP_INFERENCE_MAX_LORA_RANK"


@dataclass(frozen=True)
class AdapterFacts:
    directory: Path  # the folder holding adapter_config.json
    rank: int  # the largest rank of any module
    base_name: str  # base_model_name_or_path in its config, as trained
    target_modules: list[str]


def bad(message: str, code: str = "invalid_adapter", param: str = "file") -> InvalidRequestError:
    return InvalidRequestError(message, param=param, code=code)


def find_adapter_dir(root: Path) -> Path:
    """The folder holding adapter_config.json: the archive's root or its one sub-folder
    that has it (archives of a folder hold `name/adapter_config.json`)."""
    configs = sorted(root.rglob(CONFIG))
    if not configs:
        raise bad(f"the archive holds no {CONFIG}: is it a PEFT adapter folder?")
    if len(configs) > 1:
        found = ", ".join(str(c.relative_to(root)) for c in configs[:5])
        raise bad(f"the archive holds several adapters ({found}); upload one per archive")
    return configs[0].parent


def refuse_pickles(root: Path) -> None:
    for path in sorted(root.rglob("*")):
        if path.suffix.lower() in PICKLE_SUFFIXES:
            raise bad(
                f"pickle weights are refused ({path.relative_to(root)}): save the adapter as "
                "safetensors (PEFT's save_pretrained does by default)",
                "pickle_refused",
            )


def read_config(directory: Path) -> dict[str, Any]:
    try:
        config = json.loads((directory / CONFIG).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise bad(f"{CONFIG} is not valid JSON: {exc}") from None
    if not isinstance(config, dict):
        raise bad(f"{CONFIG} is not a JSON object")
    peft_type = str(config.get("peft_type", "")).upper()
    if peft_type != "LORA":
        raise bad(f"only LoRA adapters are served; {CONFIG} says peft_type {peft_type or None}")
    return config


def config_rank(config: dict[str, Any]) -> int:
    ranks = [config.get("r")]
    pattern = config.get("rank_pattern") or {}
    if isinstance(pattern, dict):
        ranks += list(pattern.values())
    if not all(isinstance(r, int) and not isinstance(r, bool) and r > 0 for r in ranks):
        raise bad(f"{CONFIG} has no valid rank 'r' (a positive integer)")
    return max(int(r) for r in ranks if isinstance(r, int))


def tensor_shapes(path: Path) -> dict[str, list[int]]:
    """Every tensor's shape from a safetensors file's header (no weights are read)."""
    try:
        with safe_open(str(path), framework="np") as f:
            return {key: list(f.get_slice(key).get_shape()) for key in f.keys()}  # noqa: SIM118
    except Exception as exc:  # safetensors raises its own SafetensorError and OSError
        raise bad(f"{path.name} is not a valid safetensors file: {exc}") from None


def base_shapes(base_dir: Path) -> dict[str, list[int]]:
    """The base model's weight shapes, from every safetensors file in its folder."""
    shapes: dict[str, list[int]] = {}
    for path in sorted(base_dir.glob("*.safetensors")):
        shapes.update(tensor_shapes(path))
    return shapes


def _base_weight(module: str, base: dict[str, list[int]]) -> list[int] | None:
    weight = base.get(f"{module}.weight")
    if weight is None and module.endswith("lm_head"):  # tied to the input embeddings
        weight = base.get(module.replace("lm_head", "model.embed_tokens") + ".weight")
    return weight


def check_shapes(adapter: dict[str, list[int]], base: dict[str, list[int]], base_model: str) -> int:
    """Every LoRA tensor fits a module of the base; returns the largest rank found."""
    rank = 0
    for key, shape in sorted(adapter.items()):
        match = LORA_KEY.match(key.removeprefix(PEFT_PREFIX))
        if match is None:
            continue
        module, part = match["module"], match["part"]
        weight = _base_weight(module, base)
        if weight is None:
            raise bad(
                f"the adapter changes '{module}', which {base_model} does not have: it was "
                "trained on another architecture",
                "base_mismatch",
                "base_model",
            )
        if len(shape) != 2 or len(weight) != 2:
            continue
        embedding = part.startswith("lora_embedding")
        out_dim, in_dim = (weight[1], weight[0]) if embedding else (weight[0], weight[1])
        expected_r_first = part.endswith("A")
        fits = shape[1] == in_dim if expected_r_first else shape[0] == out_dim
        if not fits:
            raise bad(
                f"the adapter's {key} has shape {shape}, which does not fit {base_model}'s "
                f"'{module}' of shape {weight}: it was trained on another base",
                "base_mismatch",
                "base_model",
            )
        rank = max(rank, shape[0] if expected_r_first else shape[1])
    if rank == 0:
        raise bad(f"{WEIGHTS} holds no LoRA weights (lora_A / lora_B tensors)")
    return rank


def check_adapter(
    root: Path, base_model: str, base_dir: Path | None, max_rank: int
) -> AdapterFacts:
    """The adapter in the unpacked archive `root`, checked for `base_model` (its weights in
    `base_dir`, None when they cannot be read here); 400 naming what is wrong otherwise."""
    refuse_pickles(root)
    directory = find_adapter_dir(root)
    config = read_config(directory)
    if not (directory / WEIGHTS).is_file():
        raise bad(f"the archive holds no {WEIGHTS} next to {CONFIG}")
    rank = config_rank(config)
    shapes = tensor_shapes(directory / WEIGHTS)
    base = base_shapes(base_dir) if base_dir is not None else {}
    if base:
        rank = max(rank, check_shapes(shapes, base, base_model))
    if max_rank and rank > max_rank:
        raise bad(
            f"the adapter's rank {rank} is over the inference service's maximum {max_rank} "
            f"({RANK_SETTING})",
            "rank_too_large",
        )
    targets = config.get("target_modules") or []
    return AdapterFacts(
        directory=directory,
        rank=rank,
        base_name=str(config.get("base_model_name_or_path") or ""),
        target_modules=sorted(targets) if isinstance(targets, list) else [str(targets)],
    )
