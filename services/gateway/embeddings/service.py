"""Embeddings through the inference service's Embed (no FastAPI here)."""

from __future__ import annotations

import base64
import struct

from services.gateway.clients import ServiceClients
from services.gateway.embeddings.protocol import (
    MAX_INPUTS,
    EmbeddingList,
    EmbeddingObject,
    EmbeddingRequest,
    EmbeddingUsage,
)
from tuneloop.inference.v1 import inference_pb2
from tuneloop_core.errors import InvalidRequestError
from tuneloop_core.grpc.client import call


def _texts(req: EmbeddingRequest) -> list[str]:
    items = [req.input] if isinstance(req.input, str) else req.input
    if not items:
        raise InvalidRequestError("input must not be empty", param="input")
    if not all(isinstance(item, str) for item in items):
        raise InvalidRequestError(
            "token-id input is not supported; send text",
            param="input",
            code="unsupported_parameter",
        )
    if len(items) > MAX_INPUTS:
        raise InvalidRequestError(f"at most {MAX_INPUTS} inputs per request", param="input")
    if any(not item for item in items):
        raise InvalidRequestError("input strings must not be empty", param="input")
    return [str(item) for item in items]


def _encode(values: list[float], encoding: str) -> list[float] | str:
    if encoding == "base64":
        return base64.b64encode(struct.pack(f"<{len(values)}f", *values)).decode()
    return values


async def embed(clients: ServiceClients, req: EmbeddingRequest, timeout_s: float) -> EmbeddingList:
    if req.dimensions is not None:
        raise InvalidRequestError(
            "dimensions is not supported by this model",
            param="dimensions",
            code="unsupported_parameter",
        )
    reply = await call(
        clients.inference.Embed,
        inference_pb2.EmbedRequest(model=req.model, texts=_texts(req), normalize=True),
        timeout_s,
    )
    return EmbeddingList(
        data=[
            EmbeddingObject(index=i, embedding=_encode(list(e.values), req.encoding_format))
            for i, e in enumerate(reply.embeddings)
        ],
        model=reply.model,
        usage=EmbeddingUsage(
            prompt_tokens=reply.usage.prompt_tokens, total_tokens=reply.usage.prompt_tokens
        ),
    )
