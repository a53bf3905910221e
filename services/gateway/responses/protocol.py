"""OpenAI's Responses API shapes: the request, the response object, its items and the typed
stream events. Input items arrive as plain JSON and are checked one by one in convert.py, so
a bad one is a 400 naming `input[i]…` rather than a union's list of failed members."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Status = Literal["in_progress", "completed", "incomplete"]


class _Open(BaseModel):
    # Unknown fields are ignored, as OpenAI-compatible servers do; those that would change
    # the answer's meaning are refused in convert.py.
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class TextFormatParam(_Open):
    """`text.format`: text, json_object, or json_schema in the flat Responses shape."""

    type: Literal["text", "json_object", "json_schema"]
    name: str | None = None
    description: str | None = None
    json_schema: dict[str, Any] | None = Field(None, alias="schema")
    strict: bool | None = None


class TextConfig(_Open):
    format: TextFormatParam | None = None
    verbosity: Literal["low", "medium", "high"] | None = None


class ReasoningParam(_Open):
    """Accepted so that clients which always send it work; the served models don't reason,
    so it changes nothing."""

    effort: str | None = None
    summary: str | None = None


class CreateResponseRequest(_Open):
    model: str | None = Field(None, min_length=1)  # None: the previous response's model
    input: str | list[dict[str, Any]]
    instructions: str | None = None
    max_output_tokens: int | None = Field(None, ge=1)
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, gt=0, le=1)
    text: TextConfig | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None
    previous_response_id: str | None = None
    store: bool | None = None  # None: true, as OpenAI
    metadata: dict[str, str] | None = None
    stream: bool = False
    user: str | None = None
    truncation: Literal["auto", "disabled"] | None = None
    reasoning: ReasoningParam | None = None
    include: list[str] | None = None
    # Refused when set (convert.py says why): nothing here runs in the background, keeps
    # conversations or saved prompts, or returns log-probabilities through this API.
    background: bool | None = None
    conversation: str | dict[str, Any] | None = None
    prompt: dict[str, Any] | None = None
    top_logprobs: int | None = None


# --- items --------------------------------------------------------------------------------


class InputText(BaseModel):
    type: Literal["input_text"] = "input_text"
    text: str


class OutputText(BaseModel):
    type: Literal["output_text"] = "output_text"
    text: str
    annotations: list[Any] = Field(default_factory=list)
    logprobs: list[Any] = Field(default_factory=list)


ContentPart = Annotated[InputText | OutputText, Field(discriminator="type")]


class MessageItem(BaseModel):
    """A message: the model's own (assistant, output_text) or one given to it."""

    type: Literal["message"] = "message"
    id: str
    role: Literal["user", "system", "developer", "assistant"]
    status: Status = "completed"
    content: list[ContentPart]

    def text(self) -> str:
        return "".join(part.text for part in self.content)


class FunctionCallItem(BaseModel):
    type: Literal["function_call"] = "function_call"
    id: str
    call_id: str
    name: str
    arguments: str  # a JSON object text
    status: Status = "completed"


class FunctionCallOutputItem(BaseModel):
    type: Literal["function_call_output"] = "function_call_output"
    id: str
    call_id: str
    output: str
    status: Status = "completed"


Item = Annotated[
    MessageItem | FunctionCallItem | FunctionCallOutputItem, Field(discriminator="type")
]
OutputItem = Annotated[MessageItem | FunctionCallItem, Field(discriminator="type")]


# --- the response object ------------------------------------------------------------------


class InputTokensDetails(BaseModel):
    cached_tokens: int = 0
    cache_write_tokens: int = 0


class OutputTokensDetails(BaseModel):
    reasoning_tokens: int = 0


class ResponseUsage(BaseModel):
    input_tokens: int
    input_tokens_details: InputTokensDetails = Field(default_factory=InputTokensDetails)
    output_tokens: int
    output_tokens_details: OutputTokensDetails = Field(default_factory=OutputTokensDetails)
    total_tokens: int


class IncompleteDetails(BaseModel):
    reason: Literal["max_output_tokens", "content_filter"]


class ResponseObject(BaseModel):
    id: str
    object: Literal["response"] = "response"
    created_at: int
    completed_at: int | None = None
    status: Literal["in_progress", "completed", "incomplete", "failed"]
    background: bool = False
    error: dict[str, Any] | None = None
    incomplete_details: IncompleteDetails | None = None
    instructions: str | None
    max_output_tokens: int | None
    model: str
    output: list[OutputItem]
    parallel_tool_calls: bool
    previous_response_id: str | None
    reasoning: dict[str, Any]
    store: bool
    temperature: float
    text: dict[str, Any]
    tool_choice: str | dict[str, Any]
    tools: list[dict[str, Any]]
    top_p: float
    truncation: Literal["auto", "disabled"]
    usage: ResponseUsage | None
    user: str | None
    metadata: dict[str, str]


class ResponseDeleted(BaseModel):
    id: str
    object: Literal["response"] = "response"
    deleted: bool = True


class InputItemList(BaseModel):
    object: Literal["list"] = "list"
    data: list[Item]
    first_id: str | None
    last_id: str | None
    has_more: bool


# --- stream events (each has `type` and `sequence_number`) ----------------------------------


class ResponseEvent(BaseModel):
    """response.created / .in_progress / .completed / .incomplete."""

    type: str
    sequence_number: int
    response: ResponseObject


class ItemEvent(BaseModel):
    """response.output_item.added / .done."""

    type: str
    sequence_number: int
    output_index: int
    item: OutputItem


class PartEvent(BaseModel):
    """response.content_part.added / .done."""

    type: str
    sequence_number: int
    item_id: str
    output_index: int
    content_index: int
    part: OutputText


class TextDeltaEvent(BaseModel):
    type: Literal["response.output_text.delta"] = "response.output_text.delta"
    sequence_number: int
    item_id: str
    output_index: int
    content_index: int
    delta: str
    logprobs: list[Any] = Field(default_factory=list)


class TextDoneEvent(BaseModel):
    type: Literal["response.output_text.done"] = "response.output_text.done"
    sequence_number: int
    item_id: str
    output_index: int
    content_index: int
    text: str
    logprobs: list[Any] = Field(default_factory=list)


class ArgumentsDeltaEvent(BaseModel):
    type: Literal["response.function_call_arguments.delta"] = (
        "response.function_call_arguments.delta"
    )
    sequence_number: int
    item_id: str
    output_index: int
    delta: str


class ArgumentsDoneEvent(BaseModel):
    type: Literal["response.function_call_arguments.done"] = "response.function_call_arguments.done"
    sequence_number: int
    item_id: str
    output_index: int
    name: str
    arguments: str
