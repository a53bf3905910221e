"""Ollama's native request and response shapes (`/api/*`), as the official `ollama` clients
send and read them. Unknown fields and options are ignored, as Ollama itself does."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from services.gateway.structured.tools import ToolDef

# The Ollama release whose API this matches (tools, JSON-schema `format`, `/api/embed`,
# `think`, logprobs): clients compare it to decide which features to use.
OLLAMA_API_VERSION = "0.12.0"


class OllamaOptions(BaseModel):
    """The generation options honoured. Ollama's others (num_ctx, num_batch, num_gpu,
    num_thread, num_keep, repeat_penalty, repeat_last_n, tfs_z, typical_p, min_p, mirostat*,
    penalize_newline, ...) are engine settings here, fixed by the inference service, and
    are ignored so that clients which always send them keep working."""

    model_config = ConfigDict(extra="ignore")

    num_predict: int | None = Field(None, ge=-2)  # -1: no limit, -2: fill the context
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, ge=0, le=1)  # 0 (or 1) disables nucleus sampling
    top_k: int | None = Field(None, ge=0)  # 0 disables top-k
    seed: int | None = None
    stop: str | list[str] | None = None
    presence_penalty: float | None = Field(None, ge=-2, le=2)
    frequency_penalty: float | None = Field(None, ge=-2, le=2)


JsonFormat = Literal["", "json"] | dict[str, Any]  # "json", or a JSON schema


class OllamaFunctionCall(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: str
    arguments: dict[str, Any] | str = Field(default_factory=dict)


class OllamaToolCall(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: str | None = None
    function: OllamaFunctionCall


class OllamaMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")

    role: Literal["system", "user", "assistant", "tool"]
    content: str | None = None
    images: list[str] | None = None
    tool_calls: list[OllamaToolCall] | None = None  # an assistant turn's calls
    tool_name: str | None = None  # a tool turn: the function it answers
    thinking: str | None = None  # an earlier answer's reasoning; not sent to the model


class GenerationFields(BaseModel):
    """What /api/chat and /api/generate share."""

    model_config = ConfigDict(extra="ignore")

    model: str = Field(min_length=1)
    stream: bool | None = None  # absent (or null) streams, as Ollama does
    format: JsonFormat | None = None
    options: OllamaOptions | None = None
    keep_alive: float | str | None = None  # accepted; every served model stays loaded
    think: bool | Literal["low", "medium", "high"] | None = None
    logprobs: bool | None = None
    top_logprobs: int | None = Field(None, ge=0, le=20)

    @property
    def streaming(self) -> bool:
        return self.stream is not False


class OllamaChatRequest(GenerationFields):
    messages: list[OllamaMessage] = Field(default_factory=list)
    tools: list[ToolDef] | None = None


class OllamaGenerateRequest(GenerationFields):
    prompt: str | None = None
    system: str | None = None
    suffix: str | None = None
    template: str | None = None
    context: list[int] | None = None
    raw: bool | None = None
    images: list[str] | None = None


class OllamaEmbedRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    model: str = Field(min_length=1)
    input: str | list[str]
    truncate: bool | None = None  # accepted; inputs longer than the model's limit are cut
    dimensions: int | None = None
    options: dict[str, Any] | None = None
    keep_alive: float | str | None = None


class OllamaEmbeddingsRequest(BaseModel):
    """The legacy `/api/embeddings`: one prompt, one vector."""

    model_config = ConfigDict(extra="ignore")

    model: str = Field(min_length=1)
    prompt: str = Field(min_length=1)
    options: dict[str, Any] | None = None
    keep_alive: float | str | None = None


class OllamaShowRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    model: str | None = None
    name: str | None = None  # older clients' field
    verbose: bool | None = None


# Responses: a field left None is left out of the JSON (`exclude_none`).


class TokenLogprob(BaseModel):
    token: str
    logprob: float


class Logprob(TokenLogprob):
    top_logprobs: list[TokenLogprob] | None = None


class FunctionCallOut(BaseModel):
    name: str
    arguments: dict[str, Any]


class ToolCallOut(BaseModel):
    function: FunctionCallOut


class MessageOut(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str
    tool_calls: list[ToolCallOut] | None = None


class FinalCounts(BaseModel):
    """The last chunk's reason, counts and durations (nanoseconds), beside `done` as Ollama
    puts them; None (left out) on the chunks before it."""

    done_reason: str | None = None
    total_duration: int | None = None
    load_duration: int | None = None  # 0: every served model is already loaded
    prompt_eval_count: int | None = None
    prompt_eval_duration: int | None = None
    eval_count: int | None = None
    eval_duration: int | None = None


class ChatChunk(FinalCounts):
    model: str
    created_at: str
    message: MessageOut
    done: bool
    logprobs: list[Logprob] | None = None


class GenerateChunk(FinalCounts):
    model: str
    created_at: str
    response: str
    done: bool
    logprobs: list[Logprob] | None = None


class EmbedResponse(BaseModel):
    model: str
    embeddings: list[list[float]]
    total_duration: int
    load_duration: int = 0
    prompt_eval_count: int


class EmbeddingsResponse(BaseModel):
    embedding: list[float]


class ModelDetails(BaseModel):
    parent_model: str = ""
    format: str = "safetensors"
    family: str = ""
    families: list[str] | None = None
    parameter_size: str = ""
    quantization_level: str = ""


class TagModel(BaseModel):
    name: str
    model: str
    modified_at: str
    size: int
    digest: str
    details: ModelDetails


class TagList(BaseModel):
    models: list[TagModel]


class RunningModel(BaseModel):
    name: str
    model: str
    size: int
    digest: str
    details: ModelDetails
    expires_at: str
    size_vram: int
    context_length: int


class RunningList(BaseModel):
    models: list[RunningModel]


class ShowResponse(BaseModel):
    modelfile: str
    parameters: str
    template: str
    details: ModelDetails
    model_info: dict[str, Any]
    capabilities: list[str]
    modified_at: str


class VersionResponse(BaseModel):
    version: str
