"""HTTP routes of Ollama's native API, `/api/*`: NDJSON streams, Ollama's `{"error": ...}`
bodies (see services/gateway/errors.py), the same API keys and tenants as /v1."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse
from fastapi.routing import APIRoute

from services.gateway.deps import CurrentTenant, StateDep
from services.gateway.ollama import catalog, service
from services.gateway.ollama.protocol import (
    OLLAMA_API_VERSION,
    ChatChunk,
    EmbeddingsResponse,
    EmbedResponse,
    GenerateChunk,
    OllamaChatRequest,
    OllamaEmbeddingsRequest,
    OllamaEmbedRequest,
    OllamaGenerateRequest,
    OllamaShowRequest,
    RunningList,
    ShowResponse,
    TagList,
    VersionResponse,
)
from tuneloop_core.errors import (
    InternalError,
    InvalidRequestError,
    TuneloopError,
)

log = logging.getLogger(__name__)
NDJSON = "application/x-ndjson"


class JsonBodyRoute(APIRoute):
    """Ollama reads every body as JSON, whatever its Content-Type: its documented
    `curl URL -d '{...}'` sends one as a form."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def as_json(request: Request) -> Response:
            scope = dict(request.scope)
            headers = [(k, v) for k, v in scope["headers"] if k != b"content-type"]
            scope["headers"] = [*headers, (b"content-type", b"application/json")]
            return await handler(Request(scope, request.receive))

        return as_json


router = APIRouter(prefix="/api", tags=["ollama"], route_class=JsonBodyRoute)


async def _lines(chunks: AsyncIterator[ChatChunk | GenerateChunk]) -> AsyncIterator[str]:
    """One JSON object per line; an error after the first line (the status is already 200)
    is a last line `{"error": ...}`, which Ollama's clients raise as ResponseError. If the
    client goes away, the generator is cancelled, and the generation with it."""
    try:
        async for chunk in chunks:
            yield chunk.model_dump_json(exclude_none=True) + "\n"
    except TuneloopError as exc:
        yield json.dumps({"error": exc.message}, ensure_ascii=False) + "\n"
    except Exception:
        log.exception("error inside an Ollama stream")
        message = InternalError("The server had an error while streaming.").message
        yield json.dumps({"error": message}, ensure_ascii=False) + "\n"


async def _answer(
    chunks: AsyncIterator[ChatChunk | GenerateChunk], streaming: bool
) -> StreamingResponse | JSONResponse:
    if streaming:
        return StreamingResponse(_lines(chunks), media_type=NDJSON)
    last = [chunk async for chunk in chunks][-1]
    return JSONResponse(last.model_dump(exclude_none=True))


@router.get("/version")
async def version() -> VersionResponse:
    return VersionResponse(version=OLLAMA_API_VERSION)


@router.get("/tags")
async def list_models(state: StateDep, tenant: CurrentTenant) -> TagList:
    return await catalog.tags(state, tenant)


@router.get("/ps")
async def running_models(state: StateDep, tenant: CurrentTenant) -> RunningList:
    return await catalog.running(state, tenant)


@router.post("/show")
async def show_model(
    body: OllamaShowRequest, state: StateDep, tenant: CurrentTenant
) -> ShowResponse:
    name = body.model or body.name
    if not name:
        raise InvalidRequestError("model is required", param="model")
    return await catalog.show(state, tenant, name)


@router.post("/chat", response_model=None)
async def chat(
    body: OllamaChatRequest, state: StateDep, tenant: CurrentTenant
) -> StreamingResponse | JSONResponse:
    return await _answer(await service.generate(state, body, tenant), body.streaming)


@router.post("/generate", response_model=None)
async def generate(
    body: OllamaGenerateRequest, state: StateDep, tenant: CurrentTenant
) -> StreamingResponse | JSONResponse:
    return await _answer(await service.generate(state, body, tenant), body.streaming)


@router.post("/embed")
async def embed(body: OllamaEmbedRequest, state: StateDep, tenant: CurrentTenant) -> EmbedResponse:
    return await service.embed(state, body, tenant)


@router.post("/embeddings")
async def embeddings(
    body: OllamaEmbeddingsRequest, state: StateDep, tenant: CurrentTenant
) -> EmbeddingsResponse:
    return await service.embeddings(state, body, tenant)


# Ollama's model management has Tuneloop counterparts; these routes say which (a 400: the
# request is one this API does not take, not a server failure).
ELSEWHERE = {
    "pull": "base models are added with `tuneloop models pull NAME` (or `tuneloop models add "
    "NAME DIR`)",
    "push": "models are exported with POST /v1/exports (GGUF and a Modelfile, optionally "
    "pushed to an Ollama server)",
    "create": "adapters trained elsewhere are added with POST /v1/adapters, and models are "
    "tuned with POST /v1/fine_tuning/jobs",
    "copy": "a model is served under its own name; tune a copy with POST /v1/fine_tuning/jobs",
    "delete": "adapters are removed with DELETE /v1/models/{name}, base models with "
    "`tuneloop models remove NAME`",
    "blobs": "adapters trained elsewhere are added with POST /v1/adapters",
}


def _elsewhere(operation: str) -> Any:
    async def refuse() -> None:
        raise InvalidRequestError(
            f"/api/{operation} is not supported by Tuneloop's Ollama API: {ELSEWHERE[operation]}.",
            code="unsupported_operation",
        )

    if operation == "blobs":

        async def refuse_blob(digest: str) -> None:  # declares the path parameter
            await refuse()

        return refuse_blob
    return refuse


for _operation, _method, _path in (
    ("pull", "POST", "/pull"),
    ("push", "POST", "/push"),
    ("create", "POST", "/create"),
    ("copy", "POST", "/copy"),
    ("delete", "DELETE", "/delete"),
    ("blobs", "HEAD", "/blobs/{digest}"),
    ("blobs", "POST", "/blobs/{digest}"),
):
    router.add_api_route(
        _path,
        _elsewhere(_operation),
        methods=[_method],
        operation_id=f"ollama_{_operation}_{_method.lower()}",
        response_model=None,
    )
