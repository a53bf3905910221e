"""The Engine Protocol every generation backend implements, and its plain data types.

An engine serves one base model plus any number of LoRA adapters on it; requests name the
adapter (or none for the base). Nothing here is OpenAI- or gRPC-specific.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

FinishReason = Literal["stop", "length", "abort"]


@dataclass(frozen=True)
class ToolCallTurn:
    """A call an assistant turn made: `arguments_json` is a JSON object text."""

    id: str
    name: str
    arguments_json: str


@dataclass(frozen=True)
class ChatTurn:
    role: str  # "system", "user", "assistant" or "tool"
    content: str
    tool_calls: tuple[ToolCallTurn, ...] = ()  # an assistant turn's calls
    tool_call_id: str = ""  # a tool turn: the call it answers
    name: str = ""  # a tool turn: the function that produced it


@dataclass(frozen=True)
class ToolSpec:
    """A function the model may call; `parameters_json` is a JSON schema text ('' = none)."""

    name: str
    description: str = ""
    parameters_json: str = ""


@dataclass(frozen=True)
class SamplingSettings:
    """Zero/None means the engine default; temperature 0 is greedy."""

    max_tokens: int = 256
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = 0  # 0 disables top-k
    stop: tuple[str, ...] = ()
    seed: int | None = None
    repetition_penalty: float = 1.0
    presence_penalty: float = 0.0  # OpenAI semantics; engines without it reject non-zero
    frequency_penalty: float = 0.0
    logprobs: int | None = None  # per generated token, with this many alternatives
    prompt_logprobs: int | None = None  # per prompt token, with this many alternatives


@dataclass(frozen=True)
class GenerationRequest:
    """One prompt for one model: raw text, or chat turns rendered with the chat template."""

    request_id: str
    prompt: str | None = None
    messages: tuple[ChatTurn, ...] = ()
    adapter: str | None = None  # adapter name; None = the base model
    sampling: SamplingSettings = field(default_factory=SamplingSettings)
    grammar: str | None = None  # xgrammar EBNF the output must follow; None = free text
    tools: tuple[ToolSpec, ...] = ()  # functions shown to the model (see prompts.py)


@dataclass(frozen=True)
class TopLogprob:
    token_id: int
    token_bytes: bytes
    logprob: float


@dataclass(frozen=True)
class TokenLogprob:
    """A token's natural-log probability under the model's distribution before any grammar
    mask (None for the first prompt token), and the most likely alternatives there, most
    likely first. `token_bytes` may hold part of a UTF-8 character."""

    token_id: int
    token_bytes: bytes
    logprob: float | None
    top: tuple[TopLogprob, ...] = ()


@dataclass
class GenerationChunk:
    """Text and token ids added since the previous chunk; the last chunk has finish_reason
    and the token counts of the whole request."""

    text: str = ""
    token_ids: list[int] = field(default_factory=list)
    finish_reason: FinishReason | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    logprobs: list[TokenLogprob] = field(default_factory=list)  # one per token id, if asked
    prompt_logprobs: list[TokenLogprob] = field(default_factory=list)  # first chunk, if asked


@dataclass(frozen=True)
class BaseModelSpec:
    """A base model the engine serves: its public name and its local directory."""

    name: str
    path: Path


class EngineBase:
    """What every engine keeps alike: the base model it serves and its context length
    (0 until the model is loaded)."""

    def __init__(self, base: BaseModelSpec):
        self._base = base
        self._context_length = 0

    @property
    def base(self) -> BaseModelSpec:
        return self._base

    @property
    def context_length(self) -> int:
        """Maximum prompt + completion tokens."""
        return self._context_length


class Engine(Protocol):
    """A generation backend for one base model and its adapters."""

    @property
    def base(self) -> BaseModelSpec: ...

    @property
    def context_length(self) -> int:
        """Maximum prompt + completion tokens."""
        ...

    async def start(self) -> None:
        """Load the base model; called once before any other method."""
        ...

    async def close(self) -> None: ...

    async def load_adapter(self, name: str, path: Path) -> None:
        """Make `name` servable from the PEFT adapter in `path` (reload if known)."""
        ...

    async def unload_adapter(self, name: str) -> None: ...

    def count_prompt_tokens(self, request: GenerationRequest) -> int:
        """Tokens the rendered prompt takes (to validate max_tokens before generating)."""
        ...

    def generate(self, request: GenerationRequest) -> AsyncGenerator[GenerationChunk, None]:
        """Stream the completion. Closing the iterator early aborts the request."""
        ...
