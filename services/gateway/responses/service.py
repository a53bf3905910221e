"""The Responses API on the chat completion path (no FastAPI here): a request becomes chat
messages, generation is chat's own (`complete` / `open_stream`, with its structured outputs
and tools), and the answer becomes output items; stored per tenant for chaining."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar

from pydantic import BaseModel, TypeAdapter

from services.gateway.chat import service as chat
from services.gateway.chat.protocol import ChatCompletionRequest, ChatMessageIn
from services.gateway.clients import ServiceClients
from services.gateway.registry.aio import AsyncRegistry
from services.gateway.registry.models import StoredResponse
from services.gateway.responses import convert, objects
from services.gateway.responses.protocol import (
    CreateResponseRequest,
    InputItemList,
    Item,
    OutputItem,
    ResponseDeleted,
    ResponseObject,
    Status,
)
from services.gateway.responses.stream import response_events
from tuneloop_core.errors import InvalidRequestError, TuneloopError

T = TypeVar("T")
_ITEMS: TypeAdapter[list[Item]] = TypeAdapter(list[Item])


async def _chain(
    registry: AsyncRegistry, tenant_id: str, previous_id: str
) -> tuple[list[Item], str]:
    """The items the previous response was given and gave, and its model."""
    previous = await registry.responses.get(tenant_id, previous_id, param="previous_response_id")
    items = _ITEMS.validate_python([*previous.input_items, *previous.response["output"]])
    return items, str(previous.response["model"])


async def prepare(
    registry: AsyncRegistry, tenant_id: str, req: CreateResponseRequest
) -> objects.Prepared:
    convert.check_supported(req)
    history: list[Item] = []
    model = req.model
    if req.previous_response_id:
        history, previous_model = await _chain(registry, tenant_id, req.previous_response_id)
        model = model or previous_model
    if model is None:
        raise InvalidRequestError("model is required", param="model")
    items = convert.input_items(req.input)
    convert.check_calls(history, items)
    return objects.Prepared(
        req, model, history, items, convert.chat_request(req, model, history + items)
    )


def _without_oldest_turn(messages: list[ChatMessageIn]) -> list[ChatMessageIn] | None:
    """The messages less the oldest turn: the leading system ones (the instructions) stay,
    then everything before the second user message goes; None when one turn is left."""
    lead = next((i for i, m in enumerate(messages) if m.role not in ("system", "developer")), 0)
    users = [i for i, m in enumerate(messages) if i >= lead and m.role == "user"]
    if len(users) < 2:
        return None
    return messages[:lead] + messages[users[1] :]


async def _generate(
    prepared: objects.Prepared, run: Callable[[ChatCompletionRequest], Awaitable[T]]
) -> T:
    """`run(chat request)`; with truncation "auto", the oldest turns are dropped while the
    conversation is over the model's context. Errors name the Responses parameters."""
    request = prepared.chat
    while True:
        try:
            return await run(request)
        except TuneloopError as exc:
            exc.param = convert.responses_param(exc.param)
            shorter = _without_oldest_turn(request.messages)
            if (
                exc.code != "context_length_exceeded"
                or prepared.request.truncation != "auto"
                or shorter is None
            ):
                raise
            request = request.model_copy(update={"messages": shorter})


async def _store(
    registry: AsyncRegistry, tenant_id: str, prepared: objects.Prepared, response: ResponseObject
) -> None:
    if prepared.request.store is False:
        return
    await registry.responses.add(
        StoredResponse(
            id=response.id,
            tenant_id=tenant_id,
            response=convert.dump(response),
            input_items=[convert.dump(i) for i in prepared.history + prepared.items],
            created_at=response.created_at,
        )
    )


async def create(
    clients: ServiceClients, registry: AsyncRegistry, tenant_id: str, req: CreateResponseRequest
) -> ResponseObject:
    prepared = await prepare(registry, tenant_id, req)
    completion = await _generate(prepared, lambda r: chat.complete(clients, r, tenant_id))
    choice = completion.choices[0]
    output: list[OutputItem] = []
    if choice.message.content or not choice.message.tool_calls:
        cut = choice.finish_reason == "length"
        status: Status = "incomplete" if cut else "completed"
        output.append(objects.message(choice.message.content or "", status))
    output += [
        objects.function_call(c.id, c.function.name, c.function.arguments)
        for c in choice.message.tool_calls or []
    ]
    response = objects.response(prepared, output, choice.finish_reason or "stop", completion.usage)
    await _store(registry, tenant_id, prepared, response)
    return response


async def open_stream(
    clients: ServiceClients, registry: AsyncRegistry, tenant_id: str, req: CreateResponseRequest
) -> AsyncIterator[BaseModel]:
    """Start generating (errors before the first token are HTTP errors), then the events."""
    prepared = await prepare(registry, tenant_id, req)
    chunks = await _generate(prepared, lambda r: chat.open_stream(clients, r, tenant_id))

    async def store(response: ResponseObject) -> None:
        await _store(registry, tenant_id, prepared, response)

    return response_events(prepared, chunks, store)


async def retrieve(registry: AsyncRegistry, tenant_id: str, response_id: str) -> ResponseObject:
    record = await registry.responses.get(tenant_id, response_id)
    return ResponseObject.model_validate(record.response)


async def delete(registry: AsyncRegistry, tenant_id: str, response_id: str) -> ResponseDeleted:
    await registry.responses.delete(tenant_id, response_id)
    return ResponseDeleted(id=response_id)


async def cancel(registry: AsyncRegistry, tenant_id: str, response_id: str) -> ResponseObject:
    """Only background responses can be cancelled, and none run in the background here."""
    await registry.responses.get(tenant_id, response_id)
    raise InvalidRequestError(
        "Only responses created with background=true can be cancelled; this server answers "
        "every response while the request is open.",
        param="response_id",
    )


async def input_items(
    registry: AsyncRegistry,
    tenant_id: str,
    response_id: str,
    limit: int,
    order: str,
    after: str | None,
) -> InputItemList:
    """The items the model was given (chained ones included), newest first by default."""
    record = await registry.responses.get(tenant_id, response_id)
    items = _ITEMS.validate_python(record.input_items)
    if order == "desc":
        items.reverse()
    if after is not None:
        ids = [i.id for i in items]
        if after not in ids:
            raise InvalidRequestError(f"No such item: {after}", param="after")
        items = items[ids.index(after) + 1 :]
    page = items[:limit]
    return InputItemList(
        data=page,
        first_id=page[0].id if page else None,
        last_id=page[-1].id if page else None,
        has_more=len(items) > limit,
    )
