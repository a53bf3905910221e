"""One request of a batch, answered by the gateway's own service for its endpoint (the
same path as the HTTP route, no loopback): the endpoint's response body as JSON, or the
`TuneloopError` the route would have answered with."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError

from services.gateway.chat import service as chat
from services.gateway.chat.protocol import ChatCompletionRequest
from services.gateway.completions import service as completions
from services.gateway.completions.protocol import CompletionRequest
from services.gateway.embeddings import service as embeddings
from services.gateway.embeddings.protocol import EmbeddingRequest
from services.gateway.errors import _validation_error
from services.gateway.rag import answer as rag_answer
from services.gateway.registry.models import Tenant
from services.gateway.responses import service as responses
from services.gateway.responses.protocol import CreateResponseRequest
from services.gateway.state import GatewayState
from tuneloop_core.errors import InvalidRequestError

M = TypeVar("M", bound=BaseModel)
Answer = Callable[[GatewayState, Tenant, dict[str, Any]], Awaitable[BaseModel]]


def _request(model: type[M], body: dict[str, Any]) -> M:
    """The endpoint's request model; a bad body is the 400 the route would give."""
    try:
        request = model.model_validate(body)
    except ValidationError as exc:
        raise _validation_error(RequestValidationError(exc.errors())) from None
    if getattr(request, "stream", False):
        raise InvalidRequestError("a batch cannot stream; leave stream unset", param="stream")
    return request


async def _chat(state: GatewayState, tenant: Tenant, body: dict[str, Any]) -> BaseModel:
    req = _request(ChatCompletionRequest, body)
    if req.knowledge_base is not None:
        answered = await rag_answer(state, req, tenant)
        assert isinstance(answered, BaseModel)  # not a stream: checked above
        return answered
    return await chat.complete(state.clients, req, tenant.id)


async def _completion(state: GatewayState, tenant: Tenant, body: dict[str, Any]) -> BaseModel:
    return await completions.complete(state.clients, _request(CompletionRequest, body), tenant.id)


async def _embedding(state: GatewayState, tenant: Tenant, body: dict[str, Any]) -> BaseModel:
    req = _request(EmbeddingRequest, body)
    return await embeddings.embed(state.clients, req, state.settings.rpc_timeout_s)


async def _response(state: GatewayState, tenant: Tenant, body: dict[str, Any]) -> BaseModel:
    req = _request(CreateResponseRequest, body)
    return await responses.create(state.clients, state.registry, tenant.id, req)


ANSWERS: dict[str, Answer] = {
    "/v1/chat/completions": _chat,
    "/v1/completions": _completion,
    "/v1/embeddings": _embedding,
    "/v1/responses": _response,
}


async def answer(
    state: GatewayState, tenant: Tenant, endpoint: str, body: dict[str, Any]
) -> dict[str, Any]:
    """The response body of `endpoint` for `body`, as the HTTP route would send it."""
    response = await ANSWERS[endpoint](state, tenant, body)
    return response.model_dump(mode="json", by_alias=True)
