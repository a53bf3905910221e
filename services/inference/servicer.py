"""InferenceService: generation, adapters, model listing and embeddings over the engines."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc

from services.inference.catalog import Catalog
from services.inference.convert import chunk_to_pb, request_from_pb
from services.inference.embeddings import Embedder
from tuneloop.common.v1 import common_pb2
from tuneloop.inference.v1 import inference_pb2, inference_pb2_grpc
from tuneloop_core.errors import InvalidRequestError
from tuneloop_core.metrics import GENERATED_TOKENS

Context = grpc.aio.ServicerContext[Any, Any]
# max_tokens when the client gives none: enough for an answer, bounded for small models.
DEFAULT_MAX_TOKENS = 512


class InferenceServicer(inference_pb2_grpc.InferenceServiceServicer):
    def __init__(
        self, catalog: Catalog, embedder: Embedder, data_dir: Path, max_lora_rank: int = 0
    ):
        self.catalog = catalog
        self.embedder = embedder
        self.data_dir = data_dir
        self.max_lora_rank = max_lora_rank  # told to the gateway, which checks imports by it

    async def Generate(
        self, request: inference_pb2.GenerateRequest, context: Context
    ) -> AsyncIterator[inference_pb2.GenerateResponse]:
        if request.model and request.model == self.embedder.name:
            raise InvalidRequestError(
                f"'{request.model}' is an embedding model: it embeds text, it does not generate",
                param="model",
                code="model_not_supported",
            )
        served = self.catalog.resolve(request.model, request.tenant_id)
        engine = served.engine
        generation = request_from_pb(request, served.adapter)
        prompt_tokens = engine.count_prompt_tokens(generation)
        room = engine.context_length - prompt_tokens
        max_tokens = generation.sampling.max_tokens or min(DEFAULT_MAX_TOKENS, room)
        if max_tokens <= 0 or max_tokens > room:
            raise InvalidRequestError(
                f"This model's maximum context length is {engine.context_length} tokens; the "
                f"prompt takes {prompt_tokens} and max_tokens asks for {max_tokens}.",
                param="max_tokens",
                code="context_length_exceeded",
            )
        sampling = dataclasses.replace(generation.sampling, max_tokens=max_tokens)
        generation = dataclasses.replace(generation, sampling=sampling)
        with self.catalog.generating(engine):  # a base being unloaded waits for this
            stream = engine.generate(generation)
            try:
                async for chunk in stream:
                    if chunk.finish_reason is not None:
                        GENERATED_TOKENS.labels(type(engine).__name__).inc(chunk.completion_tokens)
                    yield chunk_to_pb(chunk)
            finally:
                await stream.aclose()  # the client went away: stop generating

    async def LoadAdapter(
        self, request: inference_pb2.LoadAdapterRequest, context: Context
    ) -> inference_pb2.LoadAdapterResponse:
        return await self.load_adapter(request)

    async def load_adapter(
        self, request: inference_pb2.LoadAdapterRequest
    ) -> inference_pb2.LoadAdapterResponse:
        """LoadAdapter without a gRPC context, for the checkpoint hot-loader too."""
        if not request.name or not request.path:
            raise InvalidRequestError("name and path are required", param="name")
        engine = self.catalog.engine_for_base(request.base_model)
        path = Path(request.path)
        if not path.is_absolute():
            path = self.data_dir / path
        if not path.is_dir():
            raise InvalidRequestError(f"adapter directory not found: {request.path}", param="path")
        await engine.load_adapter(request.name, path)
        served = self.catalog.add_adapter(engine, request)
        return inference_pb2.LoadAdapterResponse(model=served.info)

    async def UnloadAdapter(
        self, request: inference_pb2.UnloadAdapterRequest, context: Context
    ) -> inference_pb2.UnloadAdapterResponse:
        await self.unload(request.name, request.tenant_id)
        return inference_pb2.UnloadAdapterResponse(unloaded=True)

    async def unload(self, name: str, tenant_id: str) -> None:
        """UnloadAdapter without a gRPC context, for the imported adapters' replay too."""
        served = self.catalog.remove_adapter(name, tenant_id)
        await served.engine.unload_adapter(name)

    async def ListModels(
        self, request: inference_pb2.ListModelsRequest, context: Context
    ) -> inference_pb2.ListModelsResponse:
        models = self.catalog.list(request.tenant_id)
        if self.embedder.installed():
            models.append(self.embedder.info())
        return inference_pb2.ListModelsResponse(models=models, max_lora_rank=self.max_lora_rank)

    async def Embed(
        self, request: inference_pb2.EmbedRequest, context: Context
    ) -> inference_pb2.EmbedResponse:
        if request.model and request.model != self.embedder.name:
            raise InvalidRequestError(
                f"embedding model '{request.model}' is not served; use '{self.embedder.name}'",
                param="model",
                code="model_not_found",
            )
        vectors, tokens = await self.embedder.embed(list(request.texts), request.normalize)
        return inference_pb2.EmbedResponse(
            embeddings=[inference_pb2.Embedding(values=v) for v in vectors],
            usage=common_pb2.Usage(prompt_tokens=tokens),
            model=self.embedder.name,
        )
