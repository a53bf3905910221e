"""HTTP route of `/v1/chat/completions`."""

from __future__ import annotations

from fastapi import APIRouter

from services.gateway.chat import service
from services.gateway.chat.protocol import ChatCompletion, ChatCompletionRequest
from services.gateway.deps import CurrentTenant, StateDep
from services.gateway.rag import RagChatCompletion, answer
from services.gateway.streaming import EventStreamResponse, sse_response

router = APIRouter(tags=["chat"])


@router.post("/chat/completions", response_model=None)
async def create_chat_completion(
    body: ChatCompletionRequest, state: StateDep, tenant: CurrentTenant
) -> ChatCompletion | RagChatCompletion | EventStreamResponse:
    if body.knowledge_base is not None:
        return await answer(state, body, tenant)
    if body.stream:
        return sse_response(await service.open_stream(state.clients, body, tenant.id))
    return await service.complete(state.clients, body, tenant.id)
