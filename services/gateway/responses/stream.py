"""Chat completion chunks → the Responses API's typed stream events, in OpenAI's order:
created, in_progress; per message output_item.added, content_part.added, output_text.delta…,
output_text.done, content_part.done, output_item.done; per function call output_item.added,
function_call_arguments.delta and .done, output_item.done; then completed (or incomplete)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

from pydantic import BaseModel

from services.gateway.chat.protocol import ChatCompletionChunk, ToolCallDelta, Usage
from services.gateway.responses import objects
from services.gateway.responses.protocol import (
    ArgumentsDeltaEvent,
    ArgumentsDoneEvent,
    ItemEvent,
    MessageItem,
    OutputItem,
    OutputText,
    PartEvent,
    ResponseEvent,
    ResponseObject,
    TextDeltaEvent,
    TextDoneEvent,
)


class _Events:
    """Numbers the events and keeps the output items made so far."""

    def __init__(self, prepared: objects.Prepared):
        self.prepared = prepared
        self.sequence = 0
        self.output: list[OutputItem] = []
        self.message: MessageItem | None = None  # the message being streamed
        self.text = ""

    def next(self) -> int:
        self.sequence += 1
        return self.sequence - 1

    def lifecycle(self, kind: str, response: ResponseObject) -> ResponseEvent:
        return ResponseEvent(
            type=f"response.{kind}", sequence_number=self.next(), response=response
        )

    def item(self, kind: str, index: int, item: OutputItem) -> ItemEvent:
        return ItemEvent(
            type=f"response.output_item.{kind}",
            sequence_number=self.next(),
            output_index=index,
            item=item.model_copy(deep=True),
        )

    def part(self, kind: str, text: str) -> PartEvent:
        assert self.message is not None
        return PartEvent(
            type=f"response.content_part.{kind}",
            sequence_number=self.next(),
            item_id=self.message.id,
            output_index=len(self.output) - 1,
            content_index=0,
            part=OutputText(text=text),
        )

    def open_message(self) -> list[BaseModel]:
        self.message = objects.message("", status="in_progress")
        self.message.content = []
        self.output.append(self.message)
        events: list[BaseModel] = [self.item("added", len(self.output) - 1, self.message)]
        events.append(self.part("added", ""))
        self.message.content = [OutputText(text="")]
        return events

    def text_delta(self, delta: str) -> list[BaseModel]:
        events = self.open_message() if self.message is None else []
        assert self.message is not None
        self.text += delta
        events.append(
            TextDeltaEvent(
                sequence_number=self.next(),
                item_id=self.message.id,
                output_index=len(self.output) - 1,
                content_index=0,
                delta=delta,
            )
        )
        return events

    def close_message(self, status: str = "completed") -> list[BaseModel]:
        if self.message is None:
            return []
        index = len(self.output) - 1
        events: list[BaseModel] = [
            TextDoneEvent(
                sequence_number=self.next(),
                item_id=self.message.id,
                output_index=index,
                content_index=0,
                text=self.text,
            ),
            self.part("done", self.text),
        ]
        done = objects.message(self.text, "incomplete" if status == "incomplete" else "completed")
        done.id = self.message.id
        self.output[index] = done
        events.append(self.item("done", index, done))
        self.message, self.text = None, ""
        return events

    def call(self, delta: ToolCallDelta) -> list[BaseModel]:
        events = self.close_message()
        name, arguments = delta.function.name or "", delta.function.arguments or "{}"
        done = objects.function_call(delta.id or "", name, arguments)
        index = len(self.output)
        self.output.append(done)
        added = done.model_copy(update={"arguments": "", "status": "in_progress"})
        events += [
            self.item("added", index, added),
            ArgumentsDeltaEvent(
                sequence_number=self.next(), item_id=done.id, output_index=index, delta=arguments
            ),
            ArgumentsDoneEvent(
                sequence_number=self.next(),
                item_id=done.id,
                output_index=index,
                name=name,
                arguments=arguments,
            ),
            self.item("done", index, done),
        ]
        return events


async def response_events(
    prepared: objects.Prepared,
    chunks: AsyncIterator[ChatCompletionChunk],
    finished: Callable[[ResponseObject], Awaitable[None]],
) -> AsyncIterator[BaseModel]:
    """The events of one response; `finished` gets the final response (to store it) before
    the last event goes out, so a client that saw it can retrieve it at once."""
    events = _Events(prepared)
    start = objects.response(prepared, [])
    yield events.lifecycle("created", start)
    yield events.lifecycle("in_progress", start)
    finish: str | None = None
    usage: Usage | None = None
    async for chunk in chunks:
        usage = chunk.usage or usage
        for choice in chunk.choices:
            for event in events.text_delta(choice.delta.content) if choice.delta.content else []:
                yield event
            for call in choice.delta.tool_calls or []:
                for event in events.call(call):
                    yield event
            finish = choice.finish_reason or finish
    finish = finish or "stop"
    if not events.output:  # an empty answer is still a message, as when not streamed
        for event in events.open_message():
            yield event
    for event in events.close_message("incomplete" if finish == "length" else "completed"):
        yield event
    final = objects.response(prepared, events.output, finish, usage)
    await finished(final)
    yield events.lifecycle("completed" if final.status == "completed" else "incomplete", final)
