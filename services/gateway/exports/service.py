"""Exports: check the model and the options, resolve the model's weights through the
inference service, and queue the job for an export worker (in the trainer processes).
No FastAPI here."""

from __future__ import annotations

import re

from services.gateway.files.service import input_file
from services.gateway.jobs import service as jobs
from services.gateway.jobs.service import JobKind
from services.gateway.registry.models import Job, Tenant
from services.gateway.served_models import find_owned_model
from services.gateway.state import GatewayState
from tuneloop.inference.v1 import inference_pb2
from tuneloop.trainer.v1 import trainer_pb2
from tuneloop_core.errors import InvalidRequestError, NotFoundError
from tuneloop_core.quantization import (
    AUTO,
    DEFAULT_QUANTIZATION,
    check_quantization,
    default_ollama_name,
)

KIND = JobKind(
    token="export",
    object="export",
    noun="export",
    param="export_id",
    spec_type=trainer_pb2.ExportJobSpec,
)
# Ollama model names: an optional namespace, a name and an optional tag.
OLLAMA_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,79}(/[a-z0-9][a-z0-9._-]{0,79})?(:[\w.-]{1,80})?")
MAX_PROMPT_CHARS = 2000


async def _dataset_file(
    state: GatewayState, tenant: Tenant, info: inference_pb2.ModelInfo, file_id: str | None
) -> str:
    """The file id the drift check's prompts come from: the given file, else the adapter's
    fine-tuning validation (or training) file, else none."""
    if file_id:
        return (await input_file(state, tenant, file_id, "validation_file")).id
    if not info.job_id:
        return ""
    try:
        job = await state.registry.get_job(info.job_id, tenant.id)
    except NotFoundError:
        return ""
    spec = job.spec or {}
    return str(spec.get("validation_file") or spec.get("training_file") or "")


def _check_prompts(prompts: list[str] | None) -> list[str]:
    for index, prompt in enumerate(prompts or []):
        if not prompt.strip() or len(prompt) > MAX_PROMPT_CHARS:
            raise InvalidRequestError(
                f"prompts[{index}] must be 1-{MAX_PROMPT_CHARS} characters",
                param="prompts",
                code="invalid_prompts",
            )
    return list(prompts or [])


async def create_export(
    state: GatewayState,
    tenant: Tenant,
    model: str,
    quantization: str = DEFAULT_QUANTIZATION,
    ollama_model: str | None = None,
    *,
    system: str | None = None,
    prompts: list[str] | None = None,
    validation_file: str | None = None,
    pre_tokenizer: str | None = None,
) -> Job:
    """Queue an export of `model` (a base model or the tenant's adapter) to GGUF."""
    quantization = check_quantization(quantization)
    if ollama_model is not None and not OLLAMA_NAME.fullmatch(ollama_model):
        raise InvalidRequestError(
            f"'{ollama_model}' is not a valid Ollama model name (lower-case letters, digits, "
            "'.', '_', '-', an optional 'namespace/' and ':tag')",
            param="ollama_model",
            code="invalid_ollama_model",
        )
    checked_prompts = _check_prompts(prompts)
    info = await find_owned_model(state, tenant, model)
    adapter = info.kind == inference_pb2.MODEL_KIND_ADAPTER
    base_path = info.path
    if adapter:
        parent = await find_owned_model(state, tenant, info.parent)
        base_path = parent.path
    dataset = await _dataset_file(state, tenant, info, validation_file)
    # Paths travel in the spec so the worker needs no access to the inference service.
    spec = trainer_pb2.ExportJobSpec(
        model=model,
        base_model=info.parent if adapter else model,
        base_path=base_path,
        adapter_path=info.path if adapter else "",
        quantization=quantization,
        # With `auto` the worker names it once it has chosen the type (the tag says which).
        ollama_model=ollama_model
        or ("" if quantization == AUTO else default_ollama_name(model, quantization)),
        system=system or "",
        prompts=checked_prompts,
        dataset_file=dataset,
        pre_tokenizer=pre_tokenizer or "",
        context_length=info.context_length,
    )
    return await jobs.submit(state, tenant, KIND, spec)
