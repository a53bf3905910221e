"""OpenAI (legacy) text completion request and response shapes."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from services.gateway.chat.protocol import Usage
from services.gateway.sampling import SamplingFields
from services.gateway.structured.response_format import ResponseFormat, StructuredOutputs

MAX_PROMPTS = 16
MAX_LOGPROBS = 5  # alternatives per token, OpenAI's limit on completions


class CompletionRequest(SamplingFields):
    prompt: str | list[str] = Field(min_length=1)
    # OpenAI's default for completions; 0 only with echo, to score the prompt alone.
    max_tokens: int | None = Field(16, ge=0)
    echo: bool = False  # the text starts with the prompt (and logprobs with its tokens')
    suffix: str | None = None
    logprobs: int | None = Field(None, ge=0, le=MAX_LOGPROBS)  # alternatives per token
    best_of: int | None = None
    response_format: ResponseFormat | None = None  # vLLM's extension on completions
    structured_outputs: StructuredOutputs | None = None  # vLLM's: json/regex/choice/grammar

    def prompts(self) -> list[str]:
        return [self.prompt] if isinstance(self.prompt, str) else list(self.prompt)


class CompletionLogprobs(BaseModel):
    """Per token of `text`: the token (`bytes:\\xe5\\x87` where it holds part of a UTF-8
    character), its logprob (None for the first token of an echoed prompt), the most likely
    tokens there with the chosen one among them, and where it starts in `text`, in
    characters."""

    tokens: list[str] = Field(default_factory=list)
    token_logprobs: list[float | None] = Field(default_factory=list)
    top_logprobs: list[dict[str, float] | None] = Field(default_factory=list)
    text_offset: list[int] = Field(default_factory=list)

    def extend(self, more: CompletionLogprobs) -> None:
        self.tokens += more.tokens
        self.token_logprobs += more.token_logprobs
        self.top_logprobs += more.top_logprobs
        self.text_offset += more.text_offset


class CompletionChoice(BaseModel):
    index: int
    text: str
    finish_reason: str | None
    logprobs: CompletionLogprobs | None = None


class Completion(BaseModel):
    id: str
    object: Literal["text_completion"] = "text_completion"
    created: int
    model: str
    choices: list[CompletionChoice]
    usage: Usage | None = None
    system_fingerprint: str | None = None
