"""OpenAI (legacy) text completion request and response shapes."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from services.gateway.chat.protocol import Usage
from services.gateway.sampling import SamplingFields
from services.gateway.structured.response_format import ResponseFormat, StructuredOutputs

MAX_PROMPTS = 16


class CompletionRequest(SamplingFields):
    prompt: str | list[str] = Field(min_length=1)
    max_tokens: int | None = Field(16, ge=1)  # OpenAI's default for completions
    echo: bool = False
    suffix: str | None = None
    logprobs: int | None = None
    best_of: int | None = None
    response_format: ResponseFormat | None = None  # vLLM's extension on completions
    structured_outputs: StructuredOutputs | None = None  # vLLM's: json/regex/choice/grammar

    def prompts(self) -> list[str]:
        return [self.prompt] if isinstance(self.prompt, str) else list(self.prompt)


class CompletionChoice(BaseModel):
    index: int
    text: str
    finish_reason: str | None
    logprobs: None = None


class Completion(BaseModel):
    id: str
    object: Literal["text_completion"] = "text_completion"
    created: int
    model: str
    choices: list[CompletionChoice]
    usage: Usage | None = None
    system_fingerprint: str | None = None
