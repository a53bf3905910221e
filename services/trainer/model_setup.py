"""Loading the base model and wrapping it for the recipe's method (LoRA, DoRA, QLoRA, full).

Frozen weights load in bf16 where the CPU computes bf16 natively (AVX512-BF16 or AMX):
measured here, that is the fastest LoRA setting; trainable weights stay in fp32 and the
forward runs under bf16 autocast (see `SftRecipe.forward_precision`).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from services.trainer.attention import register
from services.trainer.recipes.config import Recipe
from tuneloop_core.errors import InvalidRequestError
from tuneloop_core.hardware import cpu_has_bf16

log = logging.getLogger(__name__)


def frozen_dtype(recipe: Recipe) -> Any:
    import torch

    if recipe.adapter.kind == "full" or recipe.dtype == "float32":
        return torch.float32
    if recipe.dtype == "bfloat16" or (recipe.dtype == "auto" and cpu_has_bf16()):
        return torch.bfloat16
    return torch.float32


def check_quantization_supported(recipe: Recipe) -> None:
    """QLoRA needs bitsandbytes' 4-bit kernels; fail before any work when they are missing."""
    if recipe.adapter.quantization != "4bit":
        return
    import torch

    if not torch.cuda.is_available():
        raise InvalidRequestError(
            "QLoRA (4-bit) needs an NVIDIA GPU for bitsandbytes' 4-bit kernels; this worker "
            "has none. Use the 'lora' recipe here, or run the job on a GPU worker.",
            param="method.quantization",
            code="unsupported_on_this_worker",
        )


def load_model(path: Path, recipe: Recipe) -> Any:
    """The base model, frozen and in the recipe's dtype (4-bit for QLoRA), attending
    within each packed example (`services.trainer.attention`)."""
    from transformers import AutoModelForCausalLM

    check_quantization_supported(recipe)
    kwargs: dict[str, Any] = {"dtype": frozen_dtype(recipe), "attn_implementation": register()}
    if recipe.adapter.quantization == "4bit":
        from transformers import BitsAndBytesConfig

        kwargs["quantization_config"] = BitsAndBytesConfig(  # type: ignore[no-untyped-call]
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=kwargs["dtype"]
        )
    model = AutoModelForCausalLM.from_pretrained(path, **kwargs)
    model.config.use_cache = False
    return model


def linear_targets(model: Any) -> list[str]:
    """Names of every linear layer inside the transformer blocks (not the LM head)."""
    import torch

    names = {
        name.rsplit(".", 1)[-1]
        for name, module in model.named_modules()
        if isinstance(module, torch.nn.Linear) and "lm_head" not in name
    }
    return sorted(names)


def apply_method(model: Any, recipe: Recipe, adapter_path: Path | None = None) -> Any:
    """Wrap `model` for training; `adapter_path` continues from a saved adapter."""
    import torch

    if recipe.adapter.kind == "full":
        model.to(torch.float32)
        for param in model.parameters():
            param.requires_grad_(True)
        return model
    from peft import LoraConfig, PeftModel, get_peft_model

    if adapter_path is not None:
        wrapped = PeftModel.from_pretrained(model, str(adapter_path), is_trainable=True)
    else:
        config = LoraConfig(
            r=recipe.adapter.rank,
            lora_alpha=recipe.adapter.alpha,
            lora_dropout=recipe.adapter.dropout,
            target_modules=recipe.adapter.targets or linear_targets(model),
            use_dora=recipe.adapter.kind == "dora",
            task_type="CAUSAL_LM",
        )
        wrapped = get_peft_model(model, config)
    for name, param in wrapped.named_parameters():
        if param.requires_grad:
            param.data = param.data.to(torch.float32)  # trainable weights in fp32
        elif "lora_" in name:
            param.requires_grad_(True)
            param.data = param.data.to(torch.float32)
    trainable = sum(p.numel() for p in wrapped.parameters() if p.requires_grad)
    total = sum(p.numel() for p in wrapped.parameters())
    log.info("trainable parameters: %d of %d (%.2f%%)", trainable, total, 100 * trainable / total)
    return wrapped
