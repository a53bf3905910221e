"""What a fine-tuning job's FineTuneJobSpec means to the trainer: its recipe and the
names its models get."""

from __future__ import annotations

import re

from services.trainer.recipes.config import Recipe, load_recipe
from tuneloop.trainer.v1 import trainer_pb2
from tuneloop_core.jobspecs import fine_tune


def recipe_for(spec: trainer_pb2.FineTuneJobSpec) -> Recipe:
    """The named recipe with the job's method settings applied on top."""
    recipe = load_recipe(spec.recipe or fine_tune.DEFAULT_RECIPE)
    method = spec.method
    adapter = recipe.adapter.model_copy()
    if method.HasField("full") and method.full:
        adapter.kind = "full"
    if method.HasField("use_dora") and method.use_dora:
        adapter.kind = "dora"
    if method.HasField("lora_rank"):
        adapter.rank = method.lora_rank
    if method.HasField("lora_alpha"):
        adapter.alpha = method.lora_alpha
    if method.HasField("lora_dropout"):
        adapter.dropout = method.lora_dropout
    if method.lora_targets:
        adapter.targets = list(method.lora_targets)
    if method.HasField("quantization"):  # one of fine_tune.QUANTIZATIONS: checked at take
        adapter.quantization = method.quantization  # type: ignore[assignment]
    data = recipe.data.model_copy()
    if method.HasField("max_seq_length"):
        data.max_seq_length = method.max_seq_length
    return Recipe.model_validate({**recipe.model_dump(), "adapter": adapter, "data": data})


def is_dpo(spec: trainer_pb2.FineTuneJobSpec) -> bool:
    """Preference training (DPO); otherwise supervised ("" or "supervised")."""
    return spec.method_type == "dpo"


def _token(text: str) -> str:
    """A safe model-name part: no ':' (the separator), lower case, no spaces."""
    return re.sub(r"[^a-z0-9._-]+", "-", text.lower()).strip("-") or "x"


def model_name(spec: trainer_pb2.FineTuneJobSpec, job_id: str, epoch: int | None) -> str:
    """`ft:<base>:<tenant>:<suffix>:<job-id>`, plus `:ckpt-<epoch>` for a checkpoint."""
    parts = [
        "ft",
        spec.base_model,
        _token(spec.tenant_name),
        _token(spec.suffix or "tuned"),
        job_id,
    ]
    name = ":".join(parts)
    return f"{name}:ckpt-{epoch}" if epoch is not None else name
