"""Import an exported GGUF into an Ollama server with the official `ollama` client: upload
the file as a blob (`POST /api/blobs/sha256:<digest>`), create the model from it
(`POST /api/create` with `files`, `template`, `system`, `parameters`), then list it."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from services.trainer.export.modelfile import OllamaModel
from tuneloop_core.errors import ServiceUnavailableError

log = logging.getLogger(__name__)
OnStatus = Callable[[str, int, int], Awaitable[None]]  # status, completed, total (bytes)


def listed_as(name: str) -> str:
    """Ollama lists a model without a tag as `<name>:latest`."""
    return name if ":" in name.rsplit("/", 1)[-1] else f"{name}:latest"


async def import_model(
    url: str, gguf: Path, model: OllamaModel, name: str, on_status: OnStatus, timeout_s: float
) -> dict[str, Any]:
    import httpx
    import ollama

    client = ollama.AsyncClient(host=url, timeout=timeout_s)
    try:
        size = await asyncio.to_thread(lambda: gguf.stat().st_size)
        await on_status(f"uploading {gguf.name} ({size / 2**20:.1f} MiB)", 0, size)
        digest = await client.create_blob(gguf)
        await on_status("uploaded", size, size)
        body = model.create_body(name, digest)
        stream = await client.create(
            model=name,
            files=body["files"],
            template=body["template"],
            system=body.get("system"),
            parameters=body["parameters"],
            stream=True,
        )
        async for progress in stream:
            await on_status(
                str(progress.status or ""), int(progress.completed or 0), int(progress.total or 0)
            )
        listed = [str(m.model) for m in (await client.list()).models]
    except (httpx.HTTPError, ollama.ResponseError, ConnectionError) as exc:
        raise ServiceUnavailableError(
            f"the Ollama server at {url} failed the import: {exc}", code="ollama_failed"
        ) from exc
    log.info("imported %s into Ollama at %s", name, url)
    return {
        "url": url,
        "model": name,
        "digest": digest,
        "listed": listed_as(name) in listed,
        "models": listed,
    }
