"""RAG chat: `POST /v1/chat/completions` with the `knowledge_base` extension field.

The last user message is searched in the knowledge base; the chunks that pass its score
threshold go into a system prompt, numbered so the model can cite them as [1], [2], and
come back as `sources` (an extra field the OpenAI SDK keeps in `model_extra`; on the first
chunk of a stream). When nothing passes, the model is not called: the answer is the fixed
"資料中未提及。" / "Not in the documents." — a small model asked anyway would make
something up, and a fixed answer is one a client (and a test) can recognise.
"""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator

from pydantic import BaseModel

from services.gateway.chat import service as chat
from services.gateway.chat.protocol import (
    ChatChoice,
    ChatChunkChoice,
    ChatCompletion,
    ChatCompletionChunk,
    ChatCompletionRequest,
    ChatDelta,
    ChatMessageIn,
    ChatMessageOut,
    Usage,
)
from services.gateway.generation import new_request_id
from services.gateway.knowledge_bases import service as knowledge_bases
from services.gateway.knowledge_bases.protocol import KnowledgeBaseRef, SearchHitObject, Source
from services.gateway.registry.models import Tenant
from services.gateway.state import GatewayState
from services.gateway.streaming import EventStreamResponse, sse_response
from tuneloop_core.errors import InvalidRequestError

NOT_IN_DOCUMENTS = {"zh": "資料中未提及。", "en": "Not in the documents."}
# Han characters (CJK unified ideographs and extension A): a question with any is Chinese.
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]")

PROMPTS = {
    "zh": (
        "請只根據下列資料回答問題，使用繁體中文，並在引用處標註資料編號，例如 [1]。"
        "如果資料中沒有答案，請回答「資料中未提及。」，不要自行推測。\n\n資料：\n{context}"
    ),
    "en": (
        "Answer the question using only the documents below, and cite them by number, "
        'e.g. [1]. If the answer is not in the documents, reply "Not in the documents." '
        "and do not guess.\n\nDocuments:\n{context}"
    ),
}
_WHERE = {"zh": ("來源", "第 {} 頁"), "en": ("source", "page {}")}


class SourceRef(Source):
    """A chunk a RAG answer was given, under the number the prompt cited it by."""

    index: int  # 1-based: the [n] of the prompt
    score: float
    text: str


class RagChatCompletion(ChatCompletion):
    sources: list[SourceRef]


class RagChatCompletionChunk(ChatCompletionChunk):
    sources: list[SourceRef] | None = None  # on the first chunk of a stream only


def language(text: str) -> str:
    """ "zh" when the text has Han characters, else "en"."""
    return "zh" if _HAN.search(text) else "en"


def question(req: ChatCompletionRequest) -> str:
    """The text searched for: the last user message."""
    for message in reversed(req.messages):
        if message.role == "user" and message.text().strip():
            return message.text()
    raise InvalidRequestError(
        "a chat with knowledge_base needs a user message to search for", param="messages"
    )


def sources(hits: list[SearchHitObject]) -> list[SourceRef]:
    return [
        SourceRef(index=i, score=hit.score, text=hit.text, **hit.source.model_dump())
        for i, hit in enumerate(hits, start=1)
    ]


def context_block(refs: list[SourceRef], lang: str) -> str:
    label, page = _WHERE[lang]
    blocks = []
    for ref in refs:
        where = [ref.document]
        if ref.page:
            where.append(page.format(ref.page))
        if ref.heading_path:
            where.append(" > ".join(ref.heading_path))
        blocks.append(f"[{ref.index}] ({label}: {', '.join(where)})\n{ref.text}")
    return "\n\n".join(blocks)


def with_context(
    req: ChatCompletionRequest, refs: list[SourceRef], lang: str
) -> list[ChatMessageIn]:
    """The messages with the numbered chunks in the system prompt, merged with the
    caller's own system message (chat templates expect at most one, first)."""
    prompt = PROMPTS[lang].format(context=context_block(refs, lang))
    messages = list(req.messages)
    if messages and messages[0].role in ("system", "developer"):
        prompt = f"{messages[0].text()}\n\n{prompt}"
        messages = messages[1:]
    return [ChatMessageIn(role="system", content=prompt), *messages]


def reference(req: ChatCompletionRequest) -> KnowledgeBaseRef:
    ref = req.knowledge_base
    if ref is None:
        raise InvalidRequestError("knowledge_base is required here", param="knowledge_base")
    return KnowledgeBaseRef(id=ref) if isinstance(ref, str) else ref


async def answer(
    state: GatewayState, req: ChatCompletionRequest, tenant: Tenant
) -> RagChatCompletion | EventStreamResponse:
    """A chat completion (or its SSE stream) grounded on the request's knowledge base."""
    ref = reference(req)
    asked = question(req)
    lang = language(asked)
    hits = await knowledge_bases.search(
        state, tenant, ref.id, asked, ref.top_k, ref.score_threshold
    )
    refs = sources(hits)
    if not refs:
        if req.stream:
            return sse_response(_fixed_stream(req, NOT_IN_DOCUMENTS[lang]))
        return _fixed(req, NOT_IN_DOCUMENTS[lang])
    grounded = req.model_copy(update={"messages": with_context(req, refs, lang)})
    if req.stream:
        chunks = await chat.open_stream(state.clients, grounded, tenant.id)
        return sse_response(_with_sources(chunks, refs))
    completion = await chat.complete(state.clients, grounded, tenant.id)
    return RagChatCompletion(**completion.model_dump(), sources=refs)


def _fixed(req: ChatCompletionRequest, text: str) -> RagChatCompletion:
    choices = [
        ChatChoice(index=i, message=ChatMessageOut(content=text), finish_reason="stop")
        for i in range(req.n)
    ]
    return RagChatCompletion(
        id=new_request_id("chatcmpl"),
        created=int(time.time()),
        model=req.model,
        choices=choices,
        usage=Usage(prompt_tokens=0, completion_tokens=0, total_tokens=0),
        sources=[],
    )


async def _fixed_stream(req: ChatCompletionRequest, text: str) -> AsyncIterator[BaseModel]:
    def chunk(choices: list[ChatChunkChoice], **extra: object) -> RagChatCompletionChunk:
        return RagChatCompletionChunk(
            id=chunk_id, created=created, model=req.model, choices=choices, **extra
        )

    chunk_id, created = new_request_id("chatcmpl"), int(time.time())
    yield chunk(
        [
            ChatChunkChoice(index=i, delta=ChatDelta(role="assistant", content=""))
            for i in range(req.n)
        ],
        sources=[],
    )
    for i in range(req.n):
        yield chunk([ChatChunkChoice(index=i, delta=ChatDelta(content=text))])
        yield chunk([ChatChunkChoice(index=i, delta=ChatDelta(), finish_reason="stop")])
    if req.include_usage:
        yield chunk([], usage=Usage(prompt_tokens=0, completion_tokens=0, total_tokens=0))


async def _with_sources(
    chunks: AsyncIterator[ChatCompletionChunk], refs: list[SourceRef]
) -> AsyncIterator[BaseModel]:
    first = True
    async for chunk in chunks:
        if first:
            yield RagChatCompletionChunk(**chunk.model_dump(), sources=refs)
            first = False
        else:
            yield chunk
